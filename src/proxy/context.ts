// What a forwarder (http, tcp, upgrade) needs from its listener, and the small shared rules.
import type { Logger } from '../lib/logger.ts'
import type { AccessLog } from './access-log.ts'
import type { IdleSweep } from './idle.ts'
import type { Backend, Pool } from './pool.ts'
import { WINDOW_S, type RetryBudget } from './retry-budget.ts'
import type { ListenerStats } from './stats.ts'
import type { BackendConns } from './upstream.ts'

export interface ForwardOptions {
  connectTimeoutMs: number
  idleTimeoutMs: number
  /** 0 = none. */
  requestTimeoutMs: number
  retries: number
  /** Retries may add this share of a window's requests ([proxy] retry_budget, 0..1). */
  retryBudget: number
  /** Retries a second always allowed ([proxy] retry_budget_min). */
  retryBudgetMin: number
  /** Time for a client to send a request head once it started, and for a backend to answer an upgrade. */
  headerTimeoutMs: number
}

export interface ListenerContext {
  readonly name: string
  readonly port: number
  readonly pool: Pool
  readonly stats: ListenerStats
  /** What retries (on another backend) this listener may still make (retry-budget.ts). */
  readonly budget: RetryBudget
  readonly accessLog: AccessLog
  readonly logger: Logger
  readonly opts: ForwardOptions
  /** The idle timeout of the listener's client and backend connections (opts.idleTimeoutMs). */
  readonly idle: IdleSweep
  /** Keep-alive connections of one backend (http mode). */
  readonly connsFor: (b: Backend) => BackendConns
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

/** Counts and logs an ejection of b that a failure or a 5xx streak just caused. */
export function logEjection (ctx: ListenerContext, b: Backend, why: string): void {
  ctx.stats.ejection()
  ctx.logger.warn({ backend: b.address }, `${ctx.name}:${ctx.port}: ejected ${b.address} (${b.spec.hostname}/${b.spec.id}) for ${Math.round((b.outlier.ejectedUntil - ctx.nowMs()) / 1000)} s: ${why}`)
}

/** A failure of b for passive health (outlier.ts), and the ejection it may cause. */
export function countFailure (ctx: ListenerContext, b: Backend, why: string): void {
  if (ctx.pool.failure(b, ctx.nowMs())) logEjection(ctx, b, why)
}

/** Methods retried after a reset before any response byte (never POST or PATCH). */
export const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'])

/** How a spent retry budget is explained to a client: the two settings. */
export function budgetText (b: RetryBudget): string {
  return `retries may add ${Math.round(b.ratio * 1000) / 10} % to the requests of the last ${WINDOW_S} s, plus ${b.minPerSecond} a second: [proxy] retry_budget, retry_budget_min`
}

/** "ip" of a client socket, for logs and X-Forwarded-For. */
export function clientAddress (remote: string | undefined): string {
  if (remote === undefined) return '-'
  return remote.startsWith('::ffff:') ? remote.slice(7) : remote
}
