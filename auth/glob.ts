// Anchored, case-sensitive wildcard patterns (`*`, `?`) for policy instance lists and
// upstream host allowlists.

/**
 * Compiles `pattern` into a matcher. The whole value must match (anchored); `*` matches any
 * run of characters, including none and including dots; `?` matches exactly one character;
 * every other character is literal, so `*.qcloud.com` matches `a.qcloud.com` and
 * `a.b.qcloud.com` but never `qcloud.com`, `evilqcloud.com` or `a.qcloud.com.evil.net`.
 * Matching is case-sensitive: callers that compare hostnames lowercase both sides.
 */
export function compileGlob(pattern: string): (value: string) => boolean {
  if (typeof pattern !== 'string') throw new TypeError('glob pattern must be a string');
  // Code points, not UTF-16 units, so `?` consumes one character even outside the BMP.
  const glob = Array.from(pattern);
  if (!glob.includes('*') && !glob.includes('?')) {
    return function matchesLiteral(value: string): boolean {
      return value === pattern;
    };
  }
  return function matchesGlob(value: string): boolean {
    return wildcardMatch(glob, Array.from(value));
  };
}

// A two-pointer matcher rather than a RegExp: no escaping to get wrong, and O(n·m) in the
// worst case instead of the backtracking blow-up a pattern like `*a*a*a*b` can cause.
function wildcardMatch(glob: readonly string[], text: readonly string[]): boolean {
  let g = 0;
  let t = 0;
  let starAt = -1;
  let resumeAt = 0;
  while (t < text.length) {
    const p = glob[g];
    if (p === '*') {
      starAt = g++;
      resumeAt = t;
    } else if (p !== undefined && (p === '?' || p === text[t])) {
      g++;
      t++;
    } else if (starAt !== -1) {
      // Let the last `*` swallow one more character and retry the rest of the pattern.
      g = starAt + 1;
      t = ++resumeAt;
    } else {
      return false;
    }
  }
  while (glob[g] === '*') g++;
  return g === glob.length;
}
