// What a forwarder (http, tcp, upgrade) needs from its listener, and the small shared rules.
import type http from 'node:http'
import type { Dispatcher } from 'undici'
import type { Logger } from '../lib/logger.ts'
import type { AccessLog } from './access-log.ts'
import type { Backend, Pool } from './pool.ts'
import type { ListenerStats } from './stats.ts'

export interface ForwardOptions {
  connectTimeoutMs: number
  idleTimeoutMs: number
  /** 0 = none. */
  requestTimeoutMs: number
  retries: number
}

export interface ListenerContext {
  readonly name: string
  readonly port: number
  readonly pool: Pool
  readonly stats: ListenerStats
  readonly accessLog: AccessLog
  readonly logger: Logger
  readonly opts: ForwardOptions
  /** Keep-alive agent for backend requests with a body (http mode). */
  readonly agent: http.Agent
  /** Keep-alive pool of one backend for requests without a body (http mode). */
  readonly dispatcherFor: (b: Backend) => Dispatcher
  /** Other service names that claim this port and lost it (port conflict). */
  readonly ignored: () => readonly string[]
  /** Wall-clock ms (ejection times). */
  readonly nowMs: () => number
}

/** Error codes meaning the backend could not be reached at all: safe to retry anywhere. */
const CONNECT_ERRORS = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED'])

/** A connect attempt that failed (refused, unreachable, unresolvable, or our connect timeout). */
export class ConnectTimeoutError extends Error {
  readonly code = 'ETIMEDOUT'
  constructor (address: string, ms: number) { super(`connect to ${address} timed out after ${ms} ms`) }
}

export function isConnectError (err: unknown): boolean {
  return err instanceof ConnectTimeoutError || CONNECT_ERRORS.has((err as NodeJS.ErrnoException).code ?? '')
}

/** Methods retried after a reset before any response byte (never POST or PATCH). */
export const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'])

/** "ip" of a client socket, for logs and X-Forwarded-For. */
export function clientAddress (remote: string | undefined): string {
  if (remote === undefined) return '-'
  return remote.startsWith('::ffff:') ? remote.slice(7) : remote
}
