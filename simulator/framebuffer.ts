// An RGB framebuffer (4 bytes per pixel: r, g, b, unused) with the few drawing primitives the test pattern needs.

import { GLYPH_HEIGHT, GLYPH_WIDTH, glyphRows } from './glyphs.js';

/** A colour as [r, g, b], 0–255 each. */
export type Rgb = readonly [number, number, number];

/** A rectangle in framebuffer pixels. */
export interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** A mutable framebuffer. */
export interface Framebuffer {
  readonly width: number;
  readonly height: number;
  /** width * height * 4 bytes, row-major. */
  readonly pixels: Buffer;
  fillRect(x: number, y: number, w: number, h: number, colour: Rgb): void;
  /** Draws text with the 5x7 font, each font pixel `scale` screen pixels, one font pixel of spacing. */
  drawText(x: number, y: number, text: string, scale: number, colour: Rgb): void;
}

/** Width in pixels of `length` characters of text at `scale`. */
export function textWidth(length: number, scale: number): number {
  return length * (GLYPH_WIDTH + 1) * scale;
}

/** Creates a black framebuffer. */
export function createFramebuffer(width: number, height: number): Framebuffer {
  const pixels = Buffer.alloc(width * height * 4);
  const fillRect = (x: number, y: number, w: number, h: number, [r, g, b]: Rgb): void => {
    const x0 = Math.max(0, Math.floor(x));
    const y0 = Math.max(0, Math.floor(y));
    const x1 = Math.min(width, Math.floor(x + w));
    const y1 = Math.min(height, Math.floor(y + h));
    if (x1 <= x0 || y1 <= y0) return;
    // Fill the first row, then copy it: much faster than per-pixel writes for wide bands.
    const rowStart = (y0 * width + x0) * 4;
    for (let i = rowStart; i < rowStart + (x1 - x0) * 4; i += 4) {
      pixels[i] = r;
      pixels[i + 1] = g;
      pixels[i + 2] = b;
      pixels[i + 3] = 0;
    }
    for (let row = y0 + 1; row < y1; row++) {
      pixels.copy(pixels, (row * width + x0) * 4, rowStart, rowStart + (x1 - x0) * 4);
    }
  };
  return {
    width,
    height,
    pixels,
    fillRect,
    drawText(x, y, text, scale, colour) {
      let cx = x;
      for (const char of text) {
        const rows = glyphRows(char);
        for (let row = 0; row < GLYPH_HEIGHT; row++) {
          const bits = rows[row] ?? 0;
          for (let col = 0; col < GLYPH_WIDTH; col++) {
            if (bits & (1 << (GLYPH_WIDTH - 1 - col))) fillRect(cx + col * scale, y + row * scale, scale, scale, colour);
          }
        }
        cx += (GLYPH_WIDTH + 1) * scale;
      }
    },
  };
}
