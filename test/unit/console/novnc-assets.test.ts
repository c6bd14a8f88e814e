// Tests of the noVNC file reader: which relative paths it accepts, and that it only returns
// files listed from the package's core/ and vendor/ directories.

import { describe, expect, it } from 'vitest';
import { createNovncAssets, isServableNovncPath, resolveNovncRoot } from '../../../gateway/console/novnc-assets.js';

describe('isServableNovncPath', () => {
  it.each(['core/rfb.js', 'core/util/logging.js', 'vendor/pako/lib/zlib/inflate.js'])('accepts %s', (p) => {
    expect(isServableNovncPath(p)).toBe(true);
  });

  it.each([
    '../package.json',
    'core/../../package.json',
    'core/../rfb.js',
    './core/rfb.js',
    '/etc/passwd',
    '/core/rfb.js',
    'core//rfb.js',
    'core/%2e%2e/rfb.js',
    'core\\rfb.js',
    'core/..\\..\\x.js',
    'core/rfb.js\0.png',
    'core/.hidden.js',
    'docs/API.md',
    'package.json',
    'core/rfb.mjs',
    'core',
    '',
  ])('refuses %j', (p) => {
    expect(isServableNovncPath(p)).toBe(false);
  });
});

describe('createNovncAssets', () => {
  const assets = createNovncAssets();

  it('finds the installed package', () => {
    expect(assets.root).toBe(resolveNovncRoot());
    expect(assets.files).toContain('core/rfb.js');
  });

  it('lists only .js files under core/ and vendor/', () => {
    for (const file of assets.files) {
      expect(file).toMatch(/^(core|vendor)\/.+\.js$/);
    }
  });

  it('reads a listed file', async () => {
    const bytes = await assets.read('core/rfb.js');
    expect(new TextDecoder().decode(bytes)).toContain('export default class RFB');
  });

  it.each(['../package.json', 'core/../../package.json', 'core/missing.js', '/etc/passwd'])(
    'returns undefined for %j',
    async (p) => {
      expect(await assets.read(p)).toBeUndefined();
    },
  );

  it('refuses a directory without rfb.js', () => {
    expect(() => createNovncAssets({ root: process.cwd() })).toThrow(/core\/rfb\.js/);
  });
});
