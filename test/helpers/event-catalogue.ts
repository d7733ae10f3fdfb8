// README's event catalogue (the --json scripting contract), parsed once, and the check every test
// that reads --json output through events() applies to each event: its type is in the catalogue,
// each of its top-level fields is listed for that type, and every time in it (at any depth) is in
// the one format, ISO 8601 UTC with milliseconds.
import { readFileSync } from 'node:fs';

const readmePath = new URL('../../README.md', import.meta.url).pathname;
export const catalogueHeading = '## Scripting with `--json`: the event catalogue';

/** Event type → the fields the catalogue lists for it. */
export type Catalogue = ReadonlyMap<string, ReadonlySet<string>>;

/**
 * The catalogue table: column 1 names the type(s), column 3 the fields, each in backticks; a
 * parenthesis in column 3 explains a field (`status` (`ok`/`warn`…)) and names no fields.
 */
export function parseCatalogue(readme: string): Catalogue {
  const start = readme.indexOf(catalogueHeading);
  if (start < 0) throw new Error(`README has no "${catalogueHeading}" section`);
  const end = readme.indexOf('\n## ', start + catalogueHeading.length);
  const catalogue = new Map<string, Set<string>>();
  for (const line of readme.slice(start, end < 0 ? undefined : end).split('\n')) {
    if (!line.startsWith('| `')) continue;
    const cells = line.split(' | ');
    const backticked = (text: string): string[] => [...text.matchAll(/`([^`]+)`/g)].map((match) => match[1]!);
    const fields = backticked((cells[2] ?? '').replace(/\([^)]*\)/g, '')).filter((name) =>
      /^[A-Za-z_][A-Za-z0-9_]*$/.test(name),
    );
    for (const type of backticked(cells[0] ?? '')) {
      const known = catalogue.get(type) ?? new Set<string>();
      for (const field of fields) known.add(field);
      catalogue.set(type, known);
    }
  }
  return catalogue;
}

let readmeCatalogue: Catalogue | undefined;

export function catalogue(): Catalogue {
  readmeCatalogue ??= parseCatalogue(readFileSync(readmePath, 'utf8'));
  return readmeCatalogue;
}

// A value that is a time (not a message that mentions one): a date, a time, maybe seconds,
// fractions and a zone, and nothing else.
const looksLikeTime = /^\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?$/;
const oneTimeFormat = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

function timeProblems(value: unknown, path: string): string[] {
  if (typeof value === 'string')
    return looksLikeTime.test(value) && !oneTimeFormat.test(value)
      ? [`${path} is ${JSON.stringify(value)}: times are ISO 8601 UTC with milliseconds (…T06:41:53.457Z)`]
      : [];
  if (Array.isArray(value)) return value.flatMap((item, index) => timeProblems(item, `${path}[${index}]`));
  if (value !== null && typeof value === 'object')
    return Object.entries(value).flatMap(([key, item]) => timeProblems(item, `${path}.${key}`));
  return [];
}

/** What is wrong with one event against the catalogue (nothing: an empty list). */
export function catalogueProblems(
  event: Record<string, unknown>,
  against: Catalogue = catalogue(),
): string[] {
  const type = String(event.type);
  const fields = against.get(type);
  if (!fields) return [`event type "${type}" is not in README's event catalogue`];
  return [
    ...Object.keys(event)
      .filter((key) => key !== 'type' && !fields.has(key))
      .map((key) => `field "${key}" of "${type}" events is not in README's event catalogue`),
    ...timeProblems(event, type),
  ];
}
