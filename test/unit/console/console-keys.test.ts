// Tests of the console's special keys (gateway/console/public/console-keys.js): the X11 keysym
// sequences sent for each menu entry, and that the page's Keys menu offers exactly those.

import { beforeAll, describe, expect, it } from 'vitest';
import { renderConsolePage } from '../../../gateway/console/console-pages.js';

type KeyEvent = [number, string, boolean];
interface ConsoleKeys {
  SPECIAL_KEYS: readonly { name: string; label: string }[];
  keySequence(name: unknown): KeyEvent[] | undefined;
}

let k: ConsoleKeys;
beforeAll(async () => {
  const specifier = new URL('../../../gateway/console/public/console-keys.js', import.meta.url).href;
  k = (await import(specifier)) as ConsoleKeys;
});

describe('keySequence', () => {
  it('holds Ctrl and Alt around Delete and releases them in reverse order', () => {
    expect(k.keySequence('ctrl-alt-del')).toEqual([
      [0xffe3, 'ControlLeft', true],
      [0xffe9, 'AltLeft', true],
      [0xffff, 'Delete', true],
      [0xffff, 'Delete', false],
      [0xffe9, 'AltLeft', false],
      [0xffe3, 'ControlLeft', false],
    ]);
  });

  it.each([
    ['tab', 0xff09, 'Tab'],
    ['esc', 0xff1b, 'Escape'],
    ['super', 0xffeb, 'MetaLeft'],
  ])('presses and releases %s alone', (name, keysym, code) => {
    expect(k.keySequence(name)).toEqual([[keysym, code, true], [keysym, code, false]]);
  });

  it.each(Array.from({ length: 12 }, (_, i) => i + 1))('sends Ctrl+Alt+F%i with the right function keysym', (n) => {
    const sequence = k.keySequence(`ctrl-alt-f${n}`);
    expect(sequence?.[2]).toEqual([0xffbe + n - 1, `F${n}`, true]);
    expect(sequence).toHaveLength(6);
  });

  it.each(['ctrl-alt-f0', 'ctrl-alt-f13', 'rm -rf', '', undefined, 7])('sends nothing for %s', (name) => {
    expect(k.keySequence(name)).toBeUndefined();
  });

  it('has a sequence for every menu entry, and the page renders exactly those entries', () => {
    for (const { name } of k.SPECIAL_KEYS) expect(k.keySequence(name)).toBeDefined();
    const html = renderConsolePage({ instanceId: 'lhins-abc123' });
    const rendered = [...html.matchAll(/<button[^>]*data-key="([^"]+)"[^>]*>([^<]*)<\/button>/g)].map((m) => ({ name: m[1], label: m[2] }));
    expect(rendered).toEqual(k.SPECIAL_KEYS.map(({ name, label }) => ({ name, label })));
  });
});
