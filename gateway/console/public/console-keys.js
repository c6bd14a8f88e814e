// The special keys the console's Keys menu sends (keys the browser or the local OS would
// otherwise swallow): each name becomes a sequence of X11 keysym presses and releases for
// noVNC's rfb.sendKey. Pure data and functions, no DOM, so they are unit-tested in Node.

// X11 keysyms (X11/keysymdef.h), the values RFB key events carry.
const XK = Object.freeze({
  Tab: 0xff09,
  Escape: 0xff1b,
  BackSpace: 0xff08,
  Delete: 0xffff,
  Control_L: 0xffe3,
  Alt_L: 0xffe9,
  Super_L: 0xffeb,
  F1: 0xffbe,
});

/** Presses `keys` in order, then releases them in reverse order: how a person holds a chord. */
function chord(...keys) {
  return [...keys.map(([keysym, code]) => [keysym, code, true]), ...[...keys].reverse().map(([keysym, code]) => [keysym, code, false])];
}

const CTRL = [XK.Control_L, 'ControlLeft'];
const ALT = [XK.Alt_L, 'AltLeft'];

/** `{ name, label }` for every entry of the Keys menu, in menu order. */
export const SPECIAL_KEYS = Object.freeze([
  { name: 'ctrl-alt-del', label: 'Ctrl+Alt+Del' },
  { name: 'tab', label: 'Tab' },
  { name: 'esc', label: 'Esc' },
  { name: 'super', label: 'Windows / Super' },
  { name: 'ctrl-alt-backspace', label: 'Ctrl+Alt+Backspace' },
  ...Array.from({ length: 12 }, (_, i) => ({ name: `ctrl-alt-f${i + 1}`, label: `Ctrl+Alt+F${i + 1}` })),
]);

/**
 * The `[keysym, code, down]` events for the special key `name`, or undefined for an unknown
 * name (the page then sends nothing).
 */
export function keySequence(name) {
  switch (name) {
    case 'ctrl-alt-del':
      return chord(CTRL, ALT, [XK.Delete, 'Delete']);
    case 'tab':
      return chord([XK.Tab, 'Tab']);
    case 'esc':
      return chord([XK.Escape, 'Escape']);
    case 'super':
      return chord([XK.Super_L, 'MetaLeft']);
    case 'ctrl-alt-backspace':
      return chord(CTRL, ALT, [XK.BackSpace, 'Backspace']);
    default: {
      const match = /^ctrl-alt-f([1-9]|1[0-2])$/.exec(typeof name === 'string' ? name : '');
      if (match === null) return undefined;
      const n = Number(match[1]);
      return chord(CTRL, ALT, [XK.F1 + n - 1, `F${n}`]);
    }
  }
}
