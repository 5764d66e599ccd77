// node:http, loaded with require() instead of an ES module import. The first ES module import
// of node:http makes Node build the module's namespace, which reads every export, and three of
// them (WebSocket, CloseEvent, MessageEvent) are getters that load Node's bundled HTTP client,
// undici, compiled and run at once. Measured with Node 24: 13.7 MB of RSS and 2.4 MB of V8 heap
// for a process that imports node:http, against none for one that requires it (Node issue 57649).
// The daemon never uses those three, so every module takes node:http from here, and the one
// dependency whose ES module build imports it, @koa/router, is loaded as CommonJS (api/app.ts).
import { createRequire } from 'node:module'
import type * as Http from 'node:http'

export const nodeRequire = createRequire(import.meta.url)

export const http = nodeRequire('node:http') as typeof Http
