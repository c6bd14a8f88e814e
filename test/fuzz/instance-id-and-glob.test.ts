// Property tests of two small parsers every request meets: the instance id (the API, the upgrade,
// the console page and the browser's own check must agree) and the glob matcher used by the
// policy and the upstream host allowlist (compared against a plain RegExp reference).

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileGlob } from '../../auth/glob.js';
import { INSTANCE_ID_PATTERN } from '../../gateway/console/console-routes.js';
import { isInstanceId, productOf } from '../../gateway/tencent/products.js';
import { fuzz } from './fuzz-settings.js';

const LOWER_ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789'.split('');
// Ids as a typo, an attacker or a URL decoder might produce them.
const idLike = fc.oneof(
  fc.tuple(fc.constantFrom('lhins-', 'ins-', 'LHINS-', 'lhins', 'lh-', 'ins_', '', 'lhins-lhins-'), fc.string({ unit: fc.constantFrom(...LOWER_ALNUM, 'A', '-', '.', '/', '%', '\n', ' ', 'ı', 'K'), maxLength: 36 }), fc.constantFrom('', '', '\n', ' ', '/', '%00')).map((parts) => parts.join('')),
  fc.string({ unit: 'binary', maxLength: 50 }),
);

/** The browser's copy of the pattern, read from the script it ships in. */
function browserPattern(): RegExp | undefined {
  try {
    const source = readFileSync(fileURLToPath(new URL('../../gateway/console/public/instances.js', import.meta.url)), 'utf8');
    const literal = /const INSTANCE_ID = \/(.+)\/;/.exec(source)?.[1];
    return literal === undefined ? undefined : new RegExp(literal);
  } catch {
    return undefined;
  }
}

describe('instance ids', () => {
  const browser = browserPattern();

  it('are judged alike by isInstanceId, productOf, the console route and the browser script', () => {
    fc.assert(
      fc.property(idLike, (value) => {
        const valid = isInstanceId(value);
        expect(INSTANCE_ID_PATTERN.test(value)).toBe(valid);
        if (browser !== undefined) expect(browser.test(value)).toBe(valid);
        const product = productOf(value);
        expect(product === undefined).toBe(!valid);
        if (product !== undefined) expect(product).toBe(value.startsWith('lhins-') ? 'lighthouse' : 'cvm');
      }),
      fuzz(800),
    );
  });

  it('are valid exactly when they are a known prefix and 1 to 32 lowercase letters or digits', () => {
    fc.assert(
      fc.property(fc.constantFrom('lhins-', 'ins-'), fc.string({ unit: fc.constantFrom(...LOWER_ALNUM), minLength: 0, maxLength: 40 }), (prefix, rest) => {
        const id = prefix + rest;
        expect(isInstanceId(id)).toBe(rest.length >= 1 && rest.length <= 32);
      }),
      fuzz(500),
    );
  });
});

/** The reference: the glob turned into an anchored RegExp over code points, every other character escaped. */
function referenceGlob(pattern: string): (value: string) => boolean {
  const source = Array.from(pattern)
    .map((ch) => (ch === '*' ? '.*' : ch === '?' ? '.' : ch.replace(/[\\^$.|+()[\]{}*?]/g, '\\$&')))
    .join('');
  const regex = new RegExp(`^${source}$`, 'su');
  return (value) => regex.test(value);
}

describe('glob matching', () => {
  // A small alphabet makes matches likely; the odd characters test escaping and code points.
  const alphabet = fc.constantFrom('a', 'b', '.', '-', '\\', '[', '^', '$', '\n', '😀', 'é');
  const pattern = fc.string({ unit: fc.oneof({ weight: 3, arbitrary: alphabet }, { weight: 1, arbitrary: fc.constantFrom('*', '?') }), maxLength: 10 });
  const text = fc.string({ unit: alphabet, maxLength: 14 });

  it('agrees with a RegExp reference on every pattern and value', () => {
    fc.assert(
      fc.property(pattern, text, (glob, value) => {
        expect(compileGlob(glob)(value)).toBe(referenceGlob(glob)(value));
      }),
      fuzz(1000),
    );
  });

  it('matches every value the pattern was built from', () => {
    // Replace runs of a value by * and single characters by ?: the result must match the value.
    fc.assert(
      fc.property(text, fc.array(fc.tuple(fc.nat(), fc.nat(3), fc.boolean()), { maxLength: 3 }), (value, edits) => {
        let glob = Array.from(value);
        for (const [at, length, star] of edits) {
          if (glob.length === 0) break;
          const start = at % glob.length;
          // Only literal characters are replaced, so every * and ? stands for characters of the value.
          if (glob[start] === '*' || glob[start] === '?') continue;
          glob = star ? [...glob.slice(0, start), '*', ...glob.slice(start + length)] : glob.map((ch, i) => (i === start ? '?' : ch));
        }
        expect(compileGlob(glob.join(''))(value)).toBe(true);
      }),
      fuzz(1000),
    );
  });

  it('stays fast on patterns made to backtrack', () => {
    // `*a*a*a…b` against `aaaa…`: exponential for a backtracking RegExp, linear-ish here.
    const hostilePattern = `${'*a'.repeat(30)}*b`;
    const value = 'a'.repeat(5000);
    expect(compileGlob(hostilePattern)(value)).toBe(false);
    expect(compileGlob(hostilePattern)(`${value}b`)).toBe(true);
  });
});
