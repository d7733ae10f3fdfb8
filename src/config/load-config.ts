// Reading the configuration: file → YAML document (with positions) → schema validation → the
// resolved settings. Every problem is reported at once, each as
// `<file>:<line>:<col>: <key.path>: <what is wrong> (got <value>; expected <what is accepted>)`,
// and any problem throws ConfigError (exit 2) before a command has touched anything.
//
// Decisions:
// - An empty file (or one holding only comments) is an error, not "all defaults": a config that
//   backs up nothing is far more likely a truncated or wrong file than an intention, and a run
//   that silently does nothing must not look like success. An explicit `{}` or a mapping without
//   subvolumes is valid (`config validate` warns that nothing is configured).
// - Duplicate keys, YAML syntax errors, unresolved tags and aliases are errors (YAML would
//   silently keep one of two duplicate keys).
// - YAML 1.2 core schema: `yes`/`on` are strings, `<<` merge keys are not supported.
import {
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  visit,
  type Document,
  type Node,
  type Pair,
  type YAMLError,
} from 'yaml';
import type { z } from 'zod';
import { ConfigError, formatConfigIssue, readConfigText, type ConfigIssue } from './config-file.js';
import { pathConflicts, type RealPaths } from './path-conflicts.js';
import { realPathsOf } from './real-paths.js';
import { resolveConfig, type ResolvedConfig } from './resolve.js';
import { withholdSecretVariables } from './secret-variables.js';
import { configSchema, type Config } from './schema.js';
import { secretReferencePattern } from './secret-reference.js';
import { configJsonSchema } from './write-json-schema.js';

export {
  ConfigError,
  defaultConfigPath,
  formatConfigIssue,
  resolveConfigPath,
  type ConfigIssue,
} from './config-file.js';

export interface LoadedConfig {
  /** Absolute path of the file read. */
  readonly path: string;
  /** The validated configuration (schema defaults applied). */
  readonly config: Config;
  /** Effective settings with every default applied (resolve.ts). */
  readonly resolved: ResolvedConfig;
  /** The document as written, before validation and defaults (for `config show`). */
  readonly input: Record<string, unknown>;
}

/** Read, parse, validate and resolve the configuration. Rejects with ConfigError (exit 2) on any problem. */
export function loadConfig(flag?: string): Promise<LoadedConfig> {
  // The reading is synchronous (config-file.ts, real-paths.ts); a problem still rejects.
  return new Promise((resolve) => {
    resolve(readAndValidate(flag));
  });
}

function readAndValidate(flag: string | undefined): LoadedConfig {
  const { path, text } = readConfigText(flag);
  const loaded = parseConfigText(text, path);
  // Again with the directories as they are on disk: a symlink can put a target inside its
  // source or onto a snapshot_dir although the spelled paths differ.
  const realPaths = realPathsOf(loaded.resolved);
  const checked = realPaths.size === 0 ? loaded : parseConfigText(text, path, { realPaths });
  // Before any child starts: see secret-variables.ts.
  withholdSecretVariables(checked.resolved);
  return checked;
}

// ---------------------------------------------------------------------------------------------
// Parsing (pure)

type PathSegment = string | number;

/** `subvolumes.home.targets[0]`; names that are not plain identifiers are quoted. */
export function formatKeyPath(path: readonly PropertyKey[]): string {
  let text = '';
  for (const segment of path) {
    if (typeof segment === 'number') text += `[${segment}]`;
    else {
      const name = String(segment);
      const plain = /^[A-Za-z0-9_-]+$/.test(name) ? name : JSON.stringify(name);
      text += text === '' ? plain : `.${plain}`;
    }
  }
  return text;
}

interface Located {
  /** The value node at the path, if the document has one. */
  readonly node?: Node;
  /** The key node of the last path segment, if it is a mapping key. */
  readonly keyNode?: Node;
  /** How many segments of the path exist in the document. */
  readonly depth: number;
  /** The deepest node that exists on the way (the document root at worst). */
  readonly deepest?: Node;
  /** The key node leading to `deepest`. */
  readonly deepestKey?: Node;
}

function keyText(pair: Pair): string {
  const key = pair.key;
  if (isScalar(key)) return String(key.value);
  return String(key);
}

class Locator {
  constructor(
    private readonly doc: Document.Parsed,
    private readonly lines: LineCounter,
  ) {}

  private deref(node: unknown): Node | undefined {
    if (isAlias(node)) return this.deref(node.resolve(this.doc));
    return node as Node | undefined;
  }

  locate(path: readonly PathSegment[]): Located {
    let node = this.deref(this.doc.contents);
    let keyNode: Node | undefined;
    let depth = 0;
    for (const segment of path) {
      let next: Node | undefined;
      let nextKey: Node | undefined;
      if (isMap(node)) {
        // The last of duplicate keys wins, as in the parsed data.
        const pair = node.items.findLast((item) => keyText(item) === String(segment));
        if (!pair) break;
        next = this.deref(pair.value) ?? undefined;
        nextKey = (pair.key as Node | null) ?? undefined;
        if (!next) {
          depth++;
          return { keyNode: nextKey, depth, deepest: nextKey, deepestKey: nextKey };
        }
      } else if (isSeq(node) && typeof segment === 'number') {
        next = this.deref(node.items[segment]);
        if (!next) break;
      } else break;
      node = next;
      keyNode = nextKey;
      depth++;
    }
    const found = depth === path.length;
    return {
      node: found ? node : undefined,
      keyNode: found ? keyNode : undefined,
      depth,
      deepest: node,
      deepestKey: keyNode,
    };
  }

  position(node: Node | undefined): { line: number; column: number } {
    const offset = node?.range?.[0] ?? 0;
    const { line, col } = this.lines.linePos(offset);
    return { line, column: col };
  }
}

function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let value = data;
  for (const segment of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[segment];
  }
  return value;
}

function truncate(text: string, max = 70): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** A value as the user wrote it (strings quoted, so "2" and 2 differ visibly). */
export function renderValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'an empty value';
  // A URL's user:password@ is a credential: never repeated.
  if (typeof value === 'string')
    return truncate(JSON.stringify(value.replace(/(\/\/[^/@\s:]*):[^/@\s]*@/g, '$1:***@')), 240);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  if (Array.isArray(value)) return `a list ${truncate(JSON.stringify(value))}`;
  if (value instanceof Date) return value.toISOString();
  return `a mapping ${truncate(JSON.stringify(value))}`;
}

/** Like renderValue, naming the type where the type is the problem. */
function renderTyped(value: unknown): string {
  if (typeof value === 'string') return `the string ${renderValue(value)}`;
  if (typeof value === 'number') return `the number ${renderValue(value)}`;
  if (typeof value === 'boolean') return `the boolean ${renderValue(value)}`;
  return renderValue(value);
}

// --- the JSON Schema view of the config schema: known keys, enums, ranges, descriptions ---

interface JsonSchemaNode {
  readonly type?: string;
  readonly enum?: readonly unknown[];
  readonly minimum?: number;
  readonly maximum?: number;
  readonly description?: string;
  readonly properties?: Readonly<Record<string, JsonSchemaNode>>;
  readonly additionalProperties?: JsonSchemaNode | boolean;
  readonly items?: JsonSchemaNode;
  readonly required?: readonly string[];
  readonly $ref?: string;
  readonly pattern?: string;
  readonly const?: unknown;
  readonly oneOf?: readonly JsonSchemaNode[];
  readonly anyOf?: readonly JsonSchemaNode[];
}

let cachedJsonSchema: JsonSchemaNode | undefined;
function jsonSchema(): JsonSchemaNode {
  cachedJsonSchema ??= configJsonSchema() as JsonSchemaNode;
  return cachedJsonSchema;
}

function deref(node: JsonSchemaNode | undefined): JsonSchemaNode | undefined {
  if (!node?.$ref?.startsWith('#/')) return node;
  let target: unknown = jsonSchema();
  for (const part of node.$ref.slice(2).split('/')) target = (target as Record<string, unknown>)[part];
  return target as JsonSchemaNode | undefined;
}

/**
 * The branch of a union (a source's `type: directory | postgres`) that this value is written as:
 * the one whose constant properties it matches, else the only mapping branch, else the union.
 */
function branchFor(node: JsonSchemaNode | undefined, value: unknown): JsonSchemaNode | undefined {
  const branches = (node?.oneOf ?? node?.anyOf)?.map(deref);
  if (!branches) return node;
  const objects = branches.filter((branch) => branch?.properties !== undefined);
  const matching = objects.filter((branch) =>
    Object.entries(branch!.properties!).every(
      ([key, property]) =>
        deref(property)?.const === undefined ||
        (value !== null &&
          typeof value === 'object' &&
          (value as Record<string, unknown>)[key] === deref(property)?.const),
    ),
  );
  if (matching.length === 1) return matching[0];
  if (objects.length === 1) return objects[0];
  return node;
}

/** The schema of the value at `path`; `data` (the document) picks the branch of a union. */
function schemaAt(path: readonly PropertyKey[], data?: unknown): JsonSchemaNode | undefined {
  let node = branchFor(deref(jsonSchema()), data);
  path.forEach((segment, index) => {
    if (!node) return;
    if (node.type === 'array') node = deref(node.items);
    else if (node.properties && typeof segment === 'string' && segment in node.properties)
      node = deref(node.properties[segment]);
    else if (typeof node.additionalProperties === 'object') node = deref(node.additionalProperties);
    else node = undefined;
    node = branchFor(node, valueAt(data, path.slice(0, index + 1)));
  });
  return node;
}

function knownKeys(node: JsonSchemaNode | undefined): string[] {
  return Object.keys(node?.properties ?? {});
}

function article(word: string): string {
  return /^[aeiou]/.test(word) ? `an ${word}` : `a ${word}`;
}

function describeExpected(node: JsonSchemaNode | undefined, zodExpected?: string): string {
  if (node?.enum) return `one of: ${node.enum.map(String).join(', ')}`;
  const type = node?.type ?? zodExpected;
  switch (type) {
    case 'integer':
    case 'int':
    case 'number': {
      const noun = type === 'number' ? 'number' : 'integer';
      const { minimum, maximum } = node ?? {};
      if (minimum !== undefined && maximum !== undefined)
        return `${article(noun)} from ${minimum} to ${maximum}`;
      if (minimum !== undefined) return `${article(noun)} ≥ ${minimum}`;
      if (maximum !== undefined) return `${article(noun)} ≤ ${maximum}`;
      return article(noun);
    }
    case 'string':
      return 'a string';
    case 'array':
      return 'a list (like [a, b], or one "- item" per line)';
    case 'object': {
      const keys = knownKeys(node);
      return keys.length ? `a mapping with keys ${keys.join(', ')}` : 'a mapping of names to settings';
    }
    default:
      return type ?? 'something else';
  }
}

function levenshtein(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
    }
    previous = current;
  }
  return previous[b.length]!;
}

/** The closest candidate, if it is close enough to be a likely typo. */
export function closestMatch(word: string, candidates: readonly string[]): string | undefined {
  const normalise = (text: string): string => text.toLowerCase().replace(/[-\s]/g, '_');
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = levenshtein(normalise(word), normalise(candidate));
    if (!best || distance < best.distance) best = { candidate, distance };
  }
  if (!best) return undefined;
  const allowed = Math.max(2, Math.floor(word.length / 3));
  return best.distance <= allowed ? best.candidate : undefined;
}

/** Where else in the schema (nested below `node`) a key of this name lives. */
function nestedHome(
  key: string,
  node: JsonSchemaNode | undefined,
  prefix: string[] = [],
  depth = 2,
): string[] {
  if (!node?.properties || depth === 0) return [];
  const found: string[] = [];
  for (const [name, child] of Object.entries(node.properties)) {
    const resolved = deref(child);
    if (prefix.length > 0 && name === key) found.push([...prefix, name].join('.'));
    found.push(...nestedHome(key, resolved, [...prefix, name], depth - 1));
  }
  if (prefix.length === 0) return found.filter((home) => home.includes('.'));
  return found;
}

/** Sections (named maps) at this level whose entries could hold this value. */
function fittingSections(value: unknown, node: JsonSchemaNode | undefined): string[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || !node?.properties) return [];
  const keys = Object.keys(value);
  if (keys.length === 0) return [];
  return Object.entries(node.properties)
    .filter(([, child]) => {
      const entry = deref(child);
      const entrySchema =
        typeof entry?.additionalProperties === 'object' ? deref(entry.additionalProperties) : undefined;
      return entrySchema?.properties !== undefined && keys.every((key) => key in entrySchema.properties!);
    })
    .map(([name]) => name);
}

function unknownKeyMessage(parentPath: readonly PropertyKey[], key: string, data: unknown): string {
  const parent = schemaAt(parentPath, data);
  const known = knownKeys(parent);
  const hints: string[] = [];
  const typo = closestMatch(key, known);
  if (typo !== undefined) hints.push(`did you mean "${typo}"?`);
  else {
    const homes = nestedHome(key, parent);
    if (homes.length) hints.push(`did you mean ${homes.join(' or ')}? (it belongs one level down)`);
    const sections = fittingSections(valueAt(data, [...parentPath, key]), parent);
    if (sections.length)
      hints.push(`did you mean to put "${key}" under ${sections.map((name) => `${name}:`).join(' or ')}?`);
  }
  const expected = known.length ? `one of: ${known.join(', ')}` : describeExpected(parent);
  return `unknown key "${key}"${hints.length ? `; ${hints.join('; ')}` : ''} (expected ${expected})`;
}

/** Split a schema message "<problem>; expected <what>" into its parts. */
function splitExpected(message: string): { problem: string; expected?: string } {
  const at = message.indexOf('; expected ');
  if (at < 0) return { problem: message };
  return { problem: message.slice(0, at), expected: message.slice(at + '; expected '.length) };
}

type ZodIssue = z.core.$ZodIssue;

interface Draft {
  readonly path: readonly PropertyKey[];
  readonly message: string;
  /** Where to point: the value (default), its key, or the mapping that lacks it. */
  readonly at: 'value' | 'key' | 'parent';
}

function draftsFor(issue: ZodIssue, data: unknown): Draft[] {
  const path = issue.path;
  const value = valueAt(data, path);
  const node = schemaAt(path, data);
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((key) => ({
        path: [...path, key],
        message: unknownKeyMessage(path, key, data),
        at: 'key' as const,
      }));
    case 'invalid_type': {
      const parent = valueAt(data, path.slice(0, -1));
      if (value === undefined && path.length > 0 && parent !== null && typeof parent === 'object') {
        const what = node?.description ?? describeExpected(node, issue.expected);
        const key = String(path[path.length - 1]);
        return [
          { path, message: `required key "${key}" is missing (expected a value: ${what})`, at: 'parent' },
        ];
      }
      const expected = describeExpected(node, issue.expected);
      const quoteHint =
        node?.type === 'string' && (typeof value === 'number' || typeof value === 'boolean')
          ? ` — put it in quotes: "${String(value)}"`
          : '';
      if (path.length === 0) {
        return [
          {
            path,
            message: `the top level must be a mapping of sections (got ${renderTyped(value)}; expected ${expected})`,
            at: 'value',
          },
        ];
      }
      return [
        {
          path,
          message: `wrong type (got ${renderTyped(value)}; expected ${expected}${quoteHint})`,
          at: 'value',
        },
      ];
    }
    case 'too_small':
    case 'too_big':
      return [
        {
          path,
          message: `${issue.code === 'too_small' ? 'too small' : 'too large'} (got ${renderValue(value)}; expected ${describeExpected(node)})`,
          at: 'value',
        },
      ];
    case 'invalid_value': {
      const choices = issue.values.map(String);
      const typo = typeof value === 'string' ? closestMatch(value, choices) : undefined;
      return [
        {
          path,
          message: `not an accepted value${typo !== undefined ? `; did you mean "${typo}"?` : ''} (got ${renderValue(value)}; expected one of: ${choices.join(', ')})`,
          at: 'value',
        },
      ];
    }
    case 'invalid_key': {
      const key = path[path.length - 1];
      const inner = issue.issues[0]?.message ?? issue.message;
      const { problem, expected } = splitExpected(inner);
      return [
        {
          path,
          message: `${problem} (got ${renderValue(String(key))}${expected ? `; expected ${expected}` : ''})`,
          at: 'key',
        },
      ];
    }
    default: {
      const { problem, expected } = splitExpected(issue.message);
      const fallback = expected ?? describeExpected(node);
      // A key that takes a secret reference: what is there instead may be the secret itself.
      const got =
        node?.pattern === secretReferencePattern.source &&
        typeof value === 'string' &&
        !/^(?:env|file|op):/.test(value)
          ? `a value of ${value.length} character(s), not shown: it may be the secret itself`
          : renderValue(value);
      return [{ path, message: `${problem} (got ${got}; expected ${fallback})`, at: 'value' }];
    }
  }
}

const yamlExpectations: Readonly<Record<string, string>> = {
  BAD_INDENT: 'consistent indentation: keys of one mapping start in the same column',
  TAB_AS_INDENT: 'indentation with spaces, not tabs',
  MULTIPLE_DOCS: 'a single YAML document (no second "---")',
  TAG_RESOLVE_FAILED: 'plain values (snapkeep uses no YAML tags)',
  BLOCK_AS_IMPLICIT_KEY: 'one "key: value" per line',
};

function yamlProblem(error: YAMLError, doc: Document.Parsed): { message: string; offset: number } {
  let offset = error.pos[0];
  let problem = error.message;
  let expected = yamlExpectations[error.code] ?? 'valid YAML ("key: value" mappings indented with spaces)';
  if (error.code === 'MISSING_CHAR' && /quote/i.test(error.message)) {
    // yaml reports an unclosed quote where the file ends; point at where the quote opens.
    let opening: { start: number; quote: string } | undefined;
    visit(doc, {
      Scalar(_key, scalar) {
        const start = scalar.range?.[0];
        if (
          (scalar.type === 'QUOTE_DOUBLE' || scalar.type === 'QUOTE_SINGLE') &&
          start !== undefined &&
          start < offset
        )
          opening = { start, quote: scalar.type === 'QUOTE_DOUBLE' ? '"' : "'" };
      },
    });
    if (opening !== undefined) {
      offset = opening.start;
      problem = `unclosed quote: the value starting here with ${opening.quote} never ends`;
      expected = `a closing ${opening.quote} at the end of the value`;
    }
  }
  const kind = error.name === 'YAMLWarning' ? 'YAML problem' : 'YAML syntax error';
  return { offset, message: `${kind}: ${problem} (${error.code}; expected ${expected})` };
}

function duplicateKeys(doc: Document.Parsed, lines: LineCounter, file: string): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const walk = (node: unknown, path: PathSegment[]): void => {
    if (isMap(node)) {
      const first = new Map<string, Node>();
      for (const pair of node.items) {
        const key = keyText(pair);
        const keyNode = pair.key as Node;
        const earlier = first.get(key);
        if (earlier) {
          const { line, col } = lines.linePos(keyNode.range?.[0] ?? 0);
          const firstLine = lines.linePos(earlier.range?.[0] ?? 0).line;
          issues.push({
            file,
            line,
            column: col,
            path: formatKeyPath([...path, key]),
            message: `duplicate key (first defined at line ${firstLine}; expected each key once per mapping)`,
          });
        } else first.set(key, keyNode);
        walk(pair.value, [...path, key]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, index) => {
        walk(item, [...path, index]);
      });
    }
  };
  walk(doc.contents, []);
  return issues;
}

function unresolvedAliases(doc: Document.Parsed, lines: LineCounter, file: string): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  visit(doc, {
    Alias(_key, alias) {
      if (alias.resolve(doc) === undefined) {
        const { line, col } = lines.linePos(alias.range?.[0] ?? 0);
        issues.push({
          file,
          line,
          column: col,
          path: '',
          message: `YAML alias *${alias.source} refers to no anchor (expected an &${alias.source} anchor earlier in the file)`,
        });
      }
    },
  });
  return issues;
}

function byPosition(a: ConfigIssue, b: ConfigIssue): number {
  return (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0);
}

export interface ParseOptions {
  /** Real paths of local directories (symlinks resolved), for the overlap checks (loadConfig). */
  readonly realPaths?: RealPaths;
}

/** Parse and validate configuration text (pure). `path` is only used in messages. */
export function parseConfigText(text: string, path: string, options: ParseOptions = {}): LoadedConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: false });
  const at = (offset: number): { line: number; column: number } => {
    const { line, col } = lines.linePos(offset);
    return { line, column: col };
  };

  const syntax: ConfigIssue[] = [...doc.errors, ...doc.warnings].map((error) => {
    const { message, offset } = yamlProblem(error, doc);
    return { file: path, ...at(offset), path: '', message };
  });
  // Duplicate keys still leave a usable document: report them with the schema's findings.
  const duplicates = duplicateKeys(doc, lines, path);
  const aliases = unresolvedAliases(doc, lines, path);
  if (syntax.length > 0 || aliases.length > 0) {
    throw new ConfigError(path, [...syntax, ...aliases, ...duplicates].sort(byPosition));
  }

  if (doc.contents === null) {
    throw new ConfigError(path, [
      {
        file: path,
        line: 1,
        column: 1,
        path: '',
        message:
          'the file is empty or holds only comments (expected a mapping with at least subvolumes: and targets:; run "snapkeep config init" for a commented sample)',
      },
    ]);
  }

  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    // e.g. "Excessive alias count" (a billion-laughs document).
    throw new ConfigError(path, [
      {
        file: path,
        line: 1,
        column: 1,
        path: '',
        message: `YAML problem: ${(error as Error).message} (expected a plain configuration document)`,
      },
    ]);
  }
  const locator = new Locator(doc, lines);
  const issues: ConfigIssue[] = [...duplicates];
  const place = (draft: Draft): void => {
    const segments = draft.path.map((segment) => (typeof segment === 'symbol' ? String(segment) : segment));
    let target: Node | undefined;
    if (draft.at === 'parent') {
      const parent = locator.locate(segments.slice(0, -1));
      target = parent.keyNode ?? parent.node ?? parent.deepestKey ?? parent.deepest;
    } else {
      const found = locator.locate(segments);
      target =
        draft.at === 'key'
          ? (found.keyNode ?? found.node ?? found.deepestKey ?? found.deepest)
          : (found.node ?? found.keyNode ?? found.deepest);
    }
    issues.push({
      file: path,
      ...locator.position(target),
      path: formatKeyPath(draft.path),
      message: draft.message,
    });
  };
  const result = configSchema.safeParse(data);
  let resolved: ResolvedConfig | undefined;
  if (!result.success) {
    for (const issue of result.error.issues) for (const draft of draftsFor(issue, data)) place(draft);
  } else {
    // Directories that coincide or nest need the resolved paths (defaults applied): checked on
    // a configuration the schema accepts.
    resolved = resolveConfig(result.data);
    for (const conflict of pathConflicts(resolved, options.realPaths))
      place({ path: conflict.path, message: conflict.message, at: 'value' });
  }
  if (!result.success || issues.length > 0 || resolved === undefined) {
    const unique = issues.filter(
      (issue, index) =>
        issues.findIndex((other) => formatConfigIssue(other) === formatConfigIssue(issue)) === index,
    );
    throw new ConfigError(path, unique.sort(byPosition));
  }
  return {
    path,
    config: result.data,
    resolved,
    input: data as Record<string, unknown>,
  };
}
