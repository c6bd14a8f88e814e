import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { README_PATH, renderReadme } from '../../scripts/gen-docs.js';

describe('the README reference tables', () => {
  it('equal what the code defines (run `npm run docs` after changing them)', () => {
    const readme = readFileSync(README_PATH, 'utf8');
    expect(renderReadme(readme)).toBe(readme);
  });
});
