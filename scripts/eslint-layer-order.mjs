// ESLint rule `snapkeep/layer-order`: the folders of src/ (and the files directly in src/, each a
// unit of its own) form declared layers, bottom first; a file imports at runtime only from its own
// unit and from units in lower layers. Two units in one layer may not import each other either,
// so no runtime import cycle between folders can exist. Type-only imports (`import type`, or every
// specifier marked `type`) are exempt: TypeScript erases them, so they never load a module. Only
// relative specifiers can reach another unit; packages are not checked. A declared unit that does
// not exist yet is fine; a unit that exists and is in no layer is an error, so a new folder gets
// a place in the order before it gets imports.
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';

const unitOf = (sourceRoot, file) => {
  const path = relative(sourceRoot, file);
  if (path === '' || path.startsWith('..') || isAbsolute(path)) return undefined;
  const parts = path.split(sep);
  return parts.length === 1 ? parts[0].replace(/\.[cm]?[jt]s$/, '') : parts[0];
};

const typeOnly = (node) =>
  node.importKind === 'type' ||
  node.exportKind === 'type' ||
  (node.specifiers !== undefined &&
    node.specifiers.length > 0 &&
    node.specifiers.every((specifier) => specifier.importKind === 'type' || specifier.exportKind === 'type'));

const layerOrder = {
  meta: {
    type: 'problem',
    docs: { description: 'Runtime imports between folders of src/ follow the declared layer order' },
    schema: [
      {
        type: 'object',
        properties: {
          sourceRoot: { type: 'string' },
          layers: { type: 'array', items: { type: 'array', items: { type: 'string' } } },
        },
        required: ['sourceRoot', 'layers'],
        additionalProperties: false,
      },
    ],
    messages: {
      upward:
        '{{file}} imports {{module}}: {{from}} (layer {{fromLayer}}) may not import {{to}} (layer {{toLayer}}) at runtime — snapkeep/layer-order allows imports only from lower layers ({{order}}). Move what both need to a lower layer, or use `import type` if only types are needed.',
      undeclared:
        '{{file}}: {{unit}} is in no layer of snapkeep/layer-order; give it a place in the layer order in eslint.config.js ({{order}}).',
    },
  },
  create(context) {
    const { sourceRoot, layers } = context.options[0];
    const rank = new Map(layers.flatMap((layer, index) => layer.map((unit) => [unit, index])));
    const order = layers.map((layer) => layer.join(' ')).join(' < ');
    const file = context.filename;
    const from = unitOf(sourceRoot, file);
    if (from === undefined) return {};
    const fileName = relative(dirname(sourceRoot), file);
    const unitName = (unit, path) => (relative(sourceRoot, path).includes(sep) ? `${unit}/` : `${unit}.ts`);

    const check = (node, source) => {
      if (typeof source?.value !== 'string' || !source.value.startsWith('.')) return;
      const target = resolve(dirname(file), source.value);
      const to = unitOf(sourceRoot, target);
      if (to === undefined || to === from) return;
      if (!rank.has(to)) {
        context.report({
          node,
          messageId: 'undeclared',
          data: { file: fileName, unit: unitName(to, target), order },
        });
        return;
      }
      if (!rank.has(from) || rank.get(to) < rank.get(from)) return;
      context.report({
        node,
        messageId: 'upward',
        data: {
          file: fileName,
          module: source.value,
          from: unitName(from, file),
          fromLayer: rank.get(from) + 1,
          to: unitName(to, target),
          toLayer: rank.get(to) + 1,
          order,
        },
      });
    };

    const declarations = (node) => {
      if (node.source && !typeOnly(node)) check(node, node.source);
    };
    return {
      Program(node) {
        if (!rank.has(from)) {
          context.report({
            node,
            messageId: 'undeclared',
            data: { file: fileName, unit: unitName(from, file), order },
          });
        }
      },
      ImportDeclaration: declarations,
      ExportNamedDeclaration: declarations,
      ExportAllDeclaration: declarations,
      ImportExpression: (node) => check(node, node.source),
      CallExpression: (node) => {
        if (node.callee.type === 'Identifier' && node.callee.name === 'require')
          check(node, node.arguments[0]);
      },
    };
  },
};

export const layerOrderPlugin = { rules: { 'layer-order': layerOrder } };
