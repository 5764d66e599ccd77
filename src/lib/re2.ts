// re2js (RE2, the Go regexp's syntax and linear-time matching in pure JavaScript), loaded on
// first use: only the regex namer needs it, and loading it costs 0.8 MB of heap and 20-90 ms,
// which a daemon on the label namer (the default) is spared.
import { createRequire } from 'node:module'
import type * as Re2js from 're2js'

export type RE2JS = Re2js.RE2JS

let loaded: typeof Re2js | undefined

/** Compiles an RE2 pattern; throws re2js's RE2JSException (a SyntaxError-like message) when it is not one. */
export function compileRe2 (source: string): RE2JS {
  loaded ??= createRequire(import.meta.url)('re2js') as typeof Re2js
  return loaded.RE2JS.compile(source)
}
