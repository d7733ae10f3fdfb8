// The one standard for a path snapkeep reads from its configuration or flags and later hands to
// a program, and the one spelling of it that every "same directory?" / "inside?" check compares.
// Kept at the bottom of the tree (no imports) so config, btrfs and cli can all use it.

/**
 * The problem with a local path, or undefined when it is acceptable: absolute (so it can never be
 * read as an option), no `..` component (what it names must not depend on symlinks above it) and
 * no control characters (newlines and NULs would split or cut it in logs, argv and the journal).
 * The text reads "<what is wrong>; expected <what is accepted>".
 */
export function absolutePathProblem(path: string): string | undefined {
  if (!path.startsWith('/')) return 'is not an absolute path; expected a path starting with /';
  if (path.split('/').includes('..')) return 'contains a ".." component; expected a path without ".."';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(path))
    return 'contains a control character; expected printable characters only';
  return undefined;
}

/**
 * One spelling per directory: `//`, `/./` and a trailing `/` removed. Only for paths
 * absolutePathProblem accepts (without `..`, dropping `.` and empty parts cannot change what a
 * path names).
 */
export function normalisePath(path: string): string {
  const parts = path.split('/').filter((part) => part !== '' && part !== '.');
  return `/${parts.join('/')}`;
}

/** Whether `inner` is `outer` or below it (both normalised). */
export function isSameOrInside(inner: string, outer: string): boolean {
  return inner === outer || outer === '/' || inner.startsWith(`${outer}/`);
}
