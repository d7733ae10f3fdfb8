// The committed JSON Schema (schema/snapkeep.schema.json), generated from the zod schema so
// editors can complete and check snapkeep.yaml. Refinements (absolute paths, preserve matrices,
// target references) cannot be expressed in JSON Schema; `snapkeep config validate` checks them.
// `npm run schema` (node dist/config/write-json-schema.js) rewrites the file; a unit test fails
// when the committed file drifts from the schema.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { z } from 'zod';
import { configSchema } from './schema.js';

/** Where the committed schema lives, relative to this module (works from src/ and dist/). */
export const jsonSchemaPath = fileURLToPath(new URL('../../schema/snapkeep.schema.json', import.meta.url));

/** The configuration's JSON Schema, describing what a user may write (defaults are optional). */
export function configJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(configSchema, { io: 'input' }),
    title: 'snapkeep configuration',
  };
}

/** The file's exact text (pure). */
export function renderJsonSchema(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}

async function main(): Promise<void> {
  await mkdir(dirname(jsonSchemaPath), { recursive: true });
  await writeFile(jsonSchemaPath, renderJsonSchema());
  process.stdout.write(`wrote ${jsonSchemaPath}\n`);
}

// Run as a script (npm run schema), not when imported. No top-level await: the CLI bundle that
// includes this module is CommonJS (scripts/bundle.mjs).
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    process.stderr.write(`${String(error)}\n`);
    process.exitCode = 1;
  });
}
