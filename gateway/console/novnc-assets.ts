// Serves files of the installed @novnc/novnc package to the browser: only regular `.js` files
// under its `core/` and `vendor/` directories, listed once at startup, addressed by a strictly
// checked relative path.

import { readdirSync, realpathSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import * as path from 'node:path';

/** The top-level directories of the package the browser may load modules from. */
const SERVED_DIRECTORIES = ['core', 'vendor'] as const;

// Plain names only: no percent-encoding (decoded traversal), no backslashes (Windows
// separators), no empty, `.` or `..` segments (absolute paths, traversal).
const SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

export interface NovncAssets {
  /** The package directory the files are read from (symlinks resolved). */
  readonly root: string;
  /** Every servable path, relative to {@link root}, `/`-separated (e.g. `core/rfb.js`). */
  readonly files: ReadonlySet<string>;
  /**
   * The bytes of `relativePath` (e.g. `core/rfb.js`), or `undefined` when it is not one of
   * {@link files}. Never throws for a bad path: every refusal is the same `undefined`.
   */
  read(relativePath: string): Promise<Uint8Array<ArrayBuffer> | undefined>;
}

export interface NovncAssetsOptions {
  /** The package directory; by default resolved from node_modules. */
  root?: string;
}

/**
 * Whether `relativePath` has the shape of a servable noVNC module: `core/…` or `vendor/…`,
 * plain segments, ending in `.js`. Checked before the lookup so that nothing odd ever
 * reaches the file system.
 */
export function isServableNovncPath(relativePath: string): boolean {
  const segments = relativePath.split('/');
  const [top] = segments;
  if (segments.length < 2 || !(SERVED_DIRECTORIES as readonly string[]).includes(top ?? '')) return false;
  if (!segments.every((segment) => SEGMENT.test(segment))) return false;
  return relativePath.endsWith('.js');
}

/**
 * The directory of the installed @novnc/novnc package. Its `exports` map exposes only
 * `./core/rfb.js` (so `@novnc/novnc/package.json` cannot be resolved); the root is two
 * levels above that entry point.
 */
export function resolveNovncRoot(): string {
  const entry = createRequire(import.meta.url).resolve('@novnc/novnc');
  return realpathSync(path.dirname(path.dirname(entry)));
}

/** Regular `.js` files under `dir`, relative to `root`; symlinks are skipped, not followed. */
function listModules(root: string, dir: string, into: Map<string, string>): void {
  for (const entry of readdirSync(path.join(root, dir), { withFileTypes: true })) {
    const relative = `${dir}/${entry.name}`;
    if (entry.isDirectory()) listModules(root, relative, into);
    else if (entry.isFile() && isServableNovncPath(relative)) into.set(relative, path.join(root, ...relative.split('/')));
  }
}

/**
 * Creates the reader for noVNC's browser modules. The package is listed once, at creation,
 * so a request can only ever name a file from that list (and the list cannot grow).
 */
export function createNovncAssets(options: NovncAssetsOptions = {}): NovncAssets {
  const root = realpathSync(options.root ?? resolveNovncRoot());
  const paths = new Map<string, string>();
  try {
    for (const dir of SERVED_DIRECTORIES) listModules(root, dir, paths);
  } catch (cause) {
    throw new Error(`cannot list @novnc/novnc at ${root} (core/rfb.js expected)`, { cause });
  }
  if (!paths.has('core/rfb.js')) {
    throw new Error(`@novnc/novnc at ${root} has no core/rfb.js; is the package installed?`);
  }
  // The package does not change while the process runs; each file is read at most once.
  const cache = new Map<string, Promise<Uint8Array<ArrayBuffer>>>();

  return {
    root,
    files: new Set(paths.keys()),
    async read(relativePath) {
      if (!isServableNovncPath(relativePath)) return undefined;
      const absolute = paths.get(relativePath);
      if (absolute === undefined) return undefined;
      let pending = cache.get(relativePath);
      if (pending === undefined) {
        pending = readFile(absolute).then((bytes) => new Uint8Array(bytes));
        // A failed read is not remembered, so a transient error does not stick.
        pending.catch(() => cache.delete(relativePath));
        cache.set(relativePath, pending);
      }
      try {
        return await pending;
      } catch {
        return undefined;
      }
    },
  };
}
