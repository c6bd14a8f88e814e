// The live picture the built-in RFB server shows: colour bars, a moving block, a running counter, and the input received.

import { createFramebuffer, textWidth, type Framebuffer, type Rgb } from './framebuffer.js';

/** What the pattern shows about the user's input. */
export interface PatternInput {
  pointer?: { x: number; y: number; buttonMask: number };
  /** Recently typed characters (the pattern shows the tail that fits). */
  typed: string;
}

/** Renders frames of the test pattern into a framebuffer. */
export interface TestPattern {
  readonly frame: Framebuffer;
  /** Redraws the whole picture for `elapsedMs` since the session started. */
  render(elapsedMs: number, input: PatternInput): void;
}

const BARS: readonly Rgb[] = [
  [235, 235, 235], [235, 235, 16], [16, 235, 235], [16, 235, 16],
  [235, 16, 235], [235, 16, 16], [16, 16, 235], [16, 16, 16],
];
const WHITE: Rgb = [255, 255, 255];
const BLOCK: Rgb = [255, 140, 0];
const CROSS_UP: Rgb = [255, 0, 0];
const CROSS_DOWN: Rgb = [255, 255, 0];
const KEYS: Rgb = [64, 255, 64];

/** Creates the pattern for a `width` x `height` screen titled with `title` (the instance id). */
export function createTestPattern(width: number, height: number, title: string): TestPattern {
  // Layout in fractions of the screen so any size works; the default is 800x600.
  const headerH = Math.round(height * 0.07);
  const barsBottom = Math.round(height * 0.6);
  const counterBottom = Math.round(height * 0.73);
  const blockBottom = Math.round(height * 0.87);
  const textScale = Math.max(1, Math.floor(headerH / 10));

  const base = createFramebuffer(width, height);
  base.fillRect(0, 0, width, headerH, [0, 0, 0]);
  base.drawText(8, Math.floor((headerH - 7 * textScale) / 2), `VNC SIMULATOR ${title}`, textScale, WHITE);
  const barW = width / BARS.length;
  BARS.forEach((colour, i) => base.fillRect(Math.round(i * barW), headerH, Math.round((i + 1) * barW) - Math.round(i * barW), barsBottom - headerH, colour));
  base.fillRect(0, barsBottom, width, counterBottom - barsBottom, [0, 0, 96]);
  base.fillRect(0, counterBottom, width, blockBottom - counterBottom, [48, 48, 48]);
  base.fillRect(0, blockBottom, width, height - blockBottom, [0, 0, 0]);
  base.drawText(8, blockBottom + 8, 'KEYS:', textScale, WHITE);

  const frame = createFramebuffer(width, height);
  const blockSize = Math.max(8, blockBottom - counterBottom - 16);
  return {
    frame,
    render(elapsedMs, input) {
      base.pixels.copy(frame.pixels);
      // A counter in tenths of a second: changes on every frame, like a clock.
      const tenths = Math.floor(elapsedMs / 100);
      const counter = `T+${String(Math.floor(tenths / 10)).padStart(5, '0')}.${tenths % 10}`;
      frame.drawText(8, barsBottom + Math.floor((counterBottom - barsBottom - 7 * textScale) / 2), counter, textScale, WHITE);
      // The block bounces across its band at 200 px/s.
      const travel = Math.max(1, width - blockSize);
      const phase = Math.floor((elapsedMs * 200) / 1000) % (2 * travel);
      const blockX = phase < travel ? phase : 2 * travel - phase;
      frame.fillRect(blockX, counterBottom + 8, blockSize, blockSize, BLOCK);
      const keysX = 8 + textWidth(6, textScale);
      const fits = Math.max(0, Math.floor((width - keysX - 8) / textWidth(1, textScale)));
      frame.drawText(keysX, blockBottom + 8, input.typed.slice(-fits), textScale, KEYS);
      if (input.pointer !== undefined) {
        const { x, y, buttonMask } = input.pointer;
        const colour = buttonMask !== 0 ? CROSS_DOWN : CROSS_UP;
        frame.fillRect(x - 12, y - 1, 25, 3, colour);
        frame.fillRect(x - 1, y - 12, 3, 25, colour);
      }
    },
  };
}
