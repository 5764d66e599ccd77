// node:http, loaded with require() instead of an ES module import. The first ES module import
// of node:http makes Node build the module's namespace, which reads every export, and three of
// them (WebSocket, CloseEvent, MessageEvent) are getters that load Node's bundled HTTP client,
// undici, compiled and run at once: 23-29 ms of one turn. Measured with Node 24, a bare process
// that imports node:http holds 13.7 MB more RSS and 2.4 MB more V8 heap than one that requires
// it (Node issue 57649); a daemon, whose other code shares much of that, about 3 MB of RSS.
// The daemon never uses those three, so every module takes node:http from here (the lint
// refuses a value import of it), and the one dependency whose ES module build imports it,
// @koa/router, is loaded as CommonJS (api/app.ts).
import { createRequire } from 'node:module'
import type * as HttpsModule from 'node:https'
import type * as Http from 'node:http'

export const nodeRequire = createRequire(import.meta.url)

export const http = nodeRequire('node:http') as typeof Http

/**
 * node:https, loaded by the first caller that needs it (an https: check or webhook URL): it
 * brings Node's TLS stack, memory that a daemon with no https: URL does without (about 2.5 MB of
 * RSS together with prom-client's index, src/lib/metrics.ts). require() caches it.
 */
export function https (): typeof HttpsModule {
  return nodeRequire('node:https') as typeof HttpsModule
}
