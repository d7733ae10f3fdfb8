import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { configJsonSchema, jsonSchemaPath, renderJsonSchema } from '../../../src/config/write-json-schema.js';

describe('schema/snapkeep.schema.json', () => {
  it('is up to date with src/config/schema.ts (run: npm run build && npm run schema)', async () => {
    const committed = await readFile(jsonSchemaPath, 'utf8');
    expect(committed).toBe(renderJsonSchema());
  });

  it('describes what a user writes: defaulted keys are optional, unknown keys are refused', () => {
    const schema = configJsonSchema() as {
      $schema: string;
      additionalProperties: boolean;
      required?: string[];
      properties: Record<string, { default?: unknown; additionalProperties?: { required?: string[] } }>;
    };
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(schema.additionalProperties).toBe(false);
    expect(schema.required ?? []).toEqual([]);
    expect(schema.properties.state_dir!.default).toBe('/var/lib/snapkeep');
    expect(schema.properties.subvolumes!.additionalProperties!.required).toEqual(['path']);
  });
});
