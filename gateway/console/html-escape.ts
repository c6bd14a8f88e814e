// HTML escaping for the few values the gateway writes into its pages (instance ids, the
// sign-in link): text content and double-quoted attribute values alike.

const REPLACEMENTS: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Escapes `& < > " '` so the result is safe in element text and in quoted attributes. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (ch) => REPLACEMENTS[ch] ?? ch);
}
