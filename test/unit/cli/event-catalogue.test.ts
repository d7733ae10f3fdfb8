// README's event catalogue against the code: every event type a typed event union declares (the
// engines' and commands' exported `…Event` types) is in the catalogue with each of its fields,
// and every type the catalogue lists is still written somewhere in src/. The other direction for
// events written without a declared type — what the program really prints — is checked by
// events() (test/helpers/cli.ts) on every --json output the integration tests read.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { catalogue, catalogueProblems, parseCatalogue } from '../../helpers/event-catalogue.js';

const srcRoot = new URL('../../../src/', import.meta.url).pathname;

async function sourceFiles(directory = srcRoot): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(directory, { withFileTypes: true })) {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) files.push(...(await sourceFiles(path)));
    else if (/\.c?ts$/.test(entry.name)) files.push(path);
  }
  return files;
}

/** type → fields, from every exported `…Event` union outside src/state/ (the journal's lines). */
function declaredEvents(files: readonly string[]): Map<string, Set<string>> {
  const program = ts.createProgram([...files], {
    strict: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    noEmit: true,
  });
  const checker = program.getTypeChecker();
  const declared = new Map<string, Set<string>>();
  for (const source of program.getSourceFiles()) {
    if (!source.fileName.startsWith(srcRoot) || source.fileName.startsWith(join(srcRoot, 'state/'))) continue;
    ts.forEachChild(source, (node) => {
      if (!ts.isTypeAliasDeclaration(node) || !/Event$/.test(node.name.text)) return;
      if (!node.modifiers?.some((modifier) => modifier.kind === ts.SyntaxKind.ExportKeyword)) return;
      const type = checker.getTypeAtLocation(node.name);
      for (const member of type.isUnion() ? type.types : [type]) {
        const discriminant = member.getProperty('type');
        if (!discriminant) continue;
        const literal = checker.getTypeOfSymbolAtLocation(discriminant, node);
        for (const name of (literal.isUnion() ? literal.types : [literal]).flatMap((each) =>
          each.isStringLiteral() ? [each.value] : [],
        )) {
          const fields = declared.get(name) ?? new Set<string>();
          for (const property of member.getProperties())
            if (property.name !== 'type') fields.add(property.name);
          declared.set(name, fields);
        }
      }
    });
  }
  return declared;
}

describe('README’s event catalogue', () => {
  it('lists every declared event type with each of its fields', async () => {
    const declared = declaredEvents(await sourceFiles());
    expect(declared.size, 'the typed event unions were found').toBeGreaterThan(30);
    const missing = [...declared].flatMap(([type, fields]) =>
      catalogueProblems(
        Object.fromEntries<unknown>([
          ['type', type],
          ...[...fields].map((field): [string, number] => [field, 0]),
        ]),
      ),
    );
    expect(missing).toEqual([]);
  });

  it('lists only event types the code still writes', async () => {
    const texts = await Promise.all((await sourceFiles()).map((file) => readFile(file, 'utf8')));
    const all = texts.join('\n');
    const gone = [...catalogue().keys()].filter((type) => !all.includes(`'${type}'`));
    expect(gone).toEqual([]);
  });

  it('is parsed as written: types, fields outside parentheses, times in one format', () => {
    const parsed = parseCatalogue(
      '## Scripting with `--json`: the event catalogue\n\n| type | by | fields |\n| --- | --- | --- |\n' +
        '| `a`, `b` | x | `one`, `two` (`not`/`fields`); `three` |\n\n## Next\n| `c` | y | `four` |\n',
    );
    expect([...parsed.keys()]).toEqual(['a', 'b']);
    expect([...parsed.get('b')!]).toEqual(['one', 'two', 'three']);
    expect(catalogueProblems({ type: 'a', one: 1, not: 2 }, parsed)).toEqual([
      'field "not" of "a" events is not in README\'s event catalogue',
    ]);
    expect(catalogueProblems({ type: 'c' }, parsed)).toEqual([
      'event type "c" is not in README\'s event catalogue',
    ]);
    expect(catalogueProblems({ type: 'a', one: { at: '2026-12-03T07:06:52.312Z' } }, parsed)).toEqual([]);
    expect(catalogueProblems({ type: 'a', one: ['2026-12-03T08:06:52.312212022+01:00'] }, parsed)).toEqual([
      'a.one[0] is "2026-12-03T08:06:52.312212022+01:00": times are ISO 8601 UTC with milliseconds (…T06:41:53.457Z)',
    ]);
    expect(catalogueProblems({ type: 'a', two: '2026-12-03 08:06' }, parsed)).toHaveLength(1);
    expect(catalogueProblems({ type: 'a', two: '2026-12-03T08:06:52.312Z failed: refused' }, parsed)).toEqual(
      [],
    );
  });
});
