// The house's import direction as a lint rule: each folder of src/ names the folders it
// may import from, so the picture in docs/ARCHITECTURE.md cannot rot. A folder missing
// from the map is reported too: a new folder takes its place in the layers on purpose.
// No plugin dependency: relative imports are resolved against the importing file.
import path from 'node:path'

/** src/<folder> -> the src/ folders it may import (its own always allowed). Lowest first. */
export const LAYERS = {
  lib: [],
  service: ['lib'],
  config: ['lib', 'service'],
  catalog: ['lib', 'service'],
  health: ['lib', 'service'],
  discovery: ['lib', 'service', 'health'],
  local: ['lib', 'service', 'catalog', 'health', 'discovery'],
  gossip: ['lib', 'service', 'catalog', 'local'],
  proxy: ['lib', 'service', 'catalog'],
  listeners: ['lib', 'service', 'catalog', 'local'],
  api: ['lib', 'service', 'catalog', 'health', 'listeners'],
  daemon: ['lib', 'service', 'config', 'catalog', 'health', 'discovery', 'local', 'gossip', 'proxy', 'listeners', 'api'],
  cli: ['lib', 'service', 'config', 'daemon'],
}

/** @type {import('eslint').Rule.RuleModule} */
export const layersRule = {
  meta: {
    type: 'problem',
    docs: { description: 'imports between src/ folders point down the layers (eslint/layers.js)' },
    schema: [{ type: 'object', properties: { root: { type: 'string' } }, required: ['root'], additionalProperties: false }],
    messages: {
      up: 'src/{{from}}/ may not import src/{{to}}/: imports point down the layers, and {{from}}/ may import only {{allowed}} (eslint/layers.js)',
      unknown: 'src/{{from}}/ is not in the layer map: add it to LAYERS in eslint/layers.js',
    },
  },
  create (context) {
    const root = path.resolve(context.options[0].root)
    const file = path.relative(root, context.filename)
    if (file.startsWith('..') || path.isAbsolute(file)) return {}
    const from = file.split(path.sep)[0]
    if (from === file) return {} // a file directly in src/
    const allowed = LAYERS[from]
    const check = (node, source) => {
      if (typeof source !== 'string' || !source.startsWith('.')) return
      const target = path.relative(root, path.resolve(path.dirname(context.filename), source))
      if (target.startsWith('..')) return
      const to = target.split(path.sep)[0]
      if (to === from || to === target) return
      if (allowed === undefined) { context.report({ node, messageId: 'unknown', data: { from } }); return }
      if (!allowed.includes(to)) context.report({ node, messageId: 'up', data: { from, to, allowed: allowed.length === 0 ? 'nothing' : allowed.join(', ') } })
    }
    return {
      ImportDeclaration (node) { check(node, node.source.value) },
      ExportNamedDeclaration (node) { if (node.source !== null && node.source !== undefined) check(node, node.source.value) },
      ExportAllDeclaration (node) { check(node, node.source.value) },
      ImportExpression (node) { if (node.source.type === 'Literal') check(node, node.source.value) },
    }
  },
}

export const sidecarPlugin = { rules: { layers: layersRule } }
