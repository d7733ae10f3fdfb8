// btrbk-compatible preserve policies: parsing and formatting (pure).
// Grammar follows btrbk 0.32.5: a matrix is whitespace-separated `N<unit>` or `*<unit>` terms
// (units h d w m y, case-insensitive, each at most once) or `no`; a minimum is `all`, `latest`,
// `no` or `N<unit>`.

export type PreserveUnit = 'h' | 'd' | 'w' | 'm' | 'y';
export const preserveUnits: readonly PreserveUnit[] = ['h', 'd', 'w', 'm', 'y'];

/** Count per unit: a number, 'all' (`*`), or absent (preserve none by that rule). */
export type PreserveMatrix = Partial<Record<PreserveUnit, number | 'all'>>;

export type PreserveMinimum =
  | { readonly kind: 'all' }
  | { readonly kind: 'latest' }
  | { readonly kind: 'no' }
  | { readonly kind: 'within'; readonly count: number; readonly unit: PreserveUnit };

export const daysOfWeek = [
  'sunday',
  'monday',
  'tuesday',
  'wednesday',
  'thursday',
  'friday',
  'saturday',
] as const;
export type DayOfWeek = (typeof daysOfWeek)[number];

export interface PreservePolicy {
  readonly matrix: PreserveMatrix;
  readonly minimum: PreserveMinimum;
  readonly dayOfWeek: DayOfWeek;
  readonly hourOfDay: number;
}

export type ParseResult<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

export function parsePreserveMatrix(text: string): ParseResult<PreserveMatrix> {
  const trimmed = text.trim();
  // An empty value (a template variable that expanded to nothing) is not "no": taking it as "keep
  // none" would delete every older snapshot.
  if (trimmed === '')
    return {
      ok: false,
      error: 'is empty; expected a preserve matrix like "24h 7d 4w 6m 2y" (write "no" to keep none)',
    };
  if (trimmed === 'no') return { ok: true, value: {} };
  const matrix: PreserveMatrix = {};
  for (const term of trimmed.split(/\s+/)) {
    const match = /^(\*|[0-9]+)([hdwmyHDWMY])$/.exec(term);
    if (!match) {
      return {
        ok: false,
        error: `"${term}" is not a preserve term; expected a count and a unit like 24h 7d 4w 6m 2y (or * for all, or "no")`,
      };
    }
    const unit = match[2]!.toLowerCase() as PreserveUnit;
    if (matrix[unit] !== undefined) return { ok: false, error: `unit "${unit}" appears more than once` };
    matrix[unit] = match[1] === '*' ? 'all' : Number(match[1]);
  }
  return { ok: true, value: matrix };
}

export function parsePreserveMinimum(text: string): ParseResult<PreserveMinimum> {
  const trimmed = text.trim();
  if (trimmed === 'all' || trimmed === 'latest' || trimmed === 'no')
    return { ok: true, value: { kind: trimmed } };
  const match = /^([0-9]+)([hdwmy])$/.exec(trimmed);
  if (!match) {
    return {
      ok: false,
      error: `"${text}" is not a preserve minimum; expected all, latest, no, or a count and unit like 2d`,
    };
  }
  return { ok: true, value: { kind: 'within', count: Number(match[1]), unit: match[2] as PreserveUnit } };
}

export function formatPreserveMatrix(matrix: PreserveMatrix): string {
  const terms = preserveUnits
    .filter((unit) => matrix[unit] !== undefined)
    .map((unit) => `${matrix[unit] === 'all' ? '*' : String(matrix[unit])}${unit}`);
  return terms.length === 0 ? 'no' : terms.join(' ');
}

export function formatPreserveMinimum(minimum: PreserveMinimum): string {
  return minimum.kind === 'within' ? `${minimum.count}${minimum.unit}` : minimum.kind;
}
