import type { ESLint, Rule } from 'eslint'

export declare const LAYERS: Readonly<Record<string, readonly string[]>>
export declare const layersRule: Rule.RuleModule
export declare const sidecarPlugin: ESLint.Plugin
