// Regenerates the README's reference tables from the code (configuration variables, error
// codes, Tencent error mapping) between `<!-- generated:NAME -->` markers.
// `npm run docs` writes them; test/unit/docs.test.ts fails when README and code disagree.

import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { VARIABLES } from '../gateway/config.js';
import { ERROR_CATALOGUE } from '../gateway/errors.js';
import { mapTencentError, TENCENT_ERROR_CODES, TENCENT_ERROR_PREFIXES } from '../gateway/tencent/error-codes.js';

export const README_PATH = fileURLToPath(new URL('../README.md', import.meta.url));

const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function generatedSections(): Record<string, string> {
  const variables = [
    '| variable | meaning | default |',
    '|---|---|---|',
    ...VARIABLES.map((v) => `| \`${v.name}\` | ${cell(v.description)} | ${cell(v.default)} |`),
  ].join('\n');
  const errors = [
    '| code | HTTP status | close code | message |',
    '|---|---|---|---|',
    ...Object.entries(ERROR_CATALOGUE).map(([code, spec]) => `| \`${code}\` | ${spec.httpStatus} | ${spec.closeCode} | ${cell(spec.message)} |`),
  ].join('\n');
  const tencent = [
    '| Tencent error code | gateway code | close code | what the user reads |',
    '|---|---|---|---|',
    ...Object.keys(TENCENT_ERROR_CODES).map((code) => {
      const mapping = mapTencentError(code);
      return `| \`${code}\` | \`${mapping.code}\` | ${ERROR_CATALOGUE[mapping.code].closeCode} | ${cell(mapping.message)} |`;
    }),
    ...TENCENT_ERROR_PREFIXES.map(([prefix, mapping]) => `| any other \`${prefix}*\` | \`${mapping.code}\` | ${ERROR_CATALOGUE[mapping.code].closeCode} | ${cell(mapping.message)} |`),
    `| any other code | \`tencent_api_error\` | 4502 | ${cell(mapTencentError('').message)} (the code is kept in the audit record) |`,
  ].join('\n');
  return { variables, errors, tencent };
}

/** Returns README text with every generated section replaced. */
export function renderReadme(readme: string): string {
  let text = readme;
  for (const [name, body] of Object.entries(generatedSections())) {
    const pattern = new RegExp(`(<!-- generated:${name} -->)[\\s\\S]*?(<!-- /generated:${name} -->)`);
    if (!pattern.test(text)) throw new Error(`README.md has no <!-- generated:${name} --> … <!-- /generated:${name} --> block`);
    text = text.replace(pattern, (_m, open: string, close: string) => `${open}\n${body}\n${close}`);
  }
  return text;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const before = readFileSync(README_PATH, 'utf8');
  const after = renderReadme(before);
  if (after !== before) writeFileSync(README_PATH, after);
  process.stdout.write(after === before ? 'README.md is up to date\n' : 'README.md regenerated\n');
}
