// Docker's event stream (GET /events): newline-delimited JSON, one container event a line.
import type * as ReadlineModule from 'node:readline'
import { nodeRequire } from '../../lib/node-http.ts'

/** The container events discovery follows; each one either removes a container or re-reads it. */
export const FOLLOWED_EVENTS = ['start', 'die', 'stop', 'kill', 'destroy', 'pause', 'unpause', 'health_status', 'rename'] as const

/** Events after which the container no longer serves: removed without asking Docker. */
export const GONE_EVENTS: ReadonlySet<string> = new Set(['die', 'stop', 'destroy', 'pause'])

export interface ContainerEvent {
  /** "start", "die", "health_status: healthy", ... */
  readonly action: string
  /** The container's full id. */
  readonly id: string
}

/** One line of the stream; undefined for a line that is not a container event. */
export function parseEventLine (line: string): ContainerEvent | undefined {
  if (line.trim() === '') return undefined
  let e: unknown
  try {
    e = JSON.parse(line)
  } catch {
    return undefined
  }
  if (typeof e !== 'object' || e === null) return undefined
  const o = e as { Type?: unknown, Action?: unknown, status?: unknown, id?: unknown, Actor?: { ID?: unknown } }
  if (o.Type !== undefined && o.Type !== 'container') return undefined
  const action = typeof o.Action === 'string' ? o.Action : o.status
  const id = typeof o.Actor?.ID === 'string' ? o.Actor.ID : o.id
  if (typeof action !== 'string' || typeof id !== 'string' || !/^[0-9a-f]{12,64}$/.test(id)) return undefined
  return { action, id }
}

/**
 * Calls onEvent for each event of the stream and onEnd once when the stream ends, fails
 * or is closed by close(). Chunks may hold several lines or part of one: readline joins them.
 */
export function followEvents (stream: NodeJS.ReadableStream, onEvent: (e: ContainerEvent) => void, onEnd: (err?: Error) => void): { close: () => void } {
  // Required here, not imported: the daemon loads this module with Docker discovery off too.
  const rl = (nodeRequire('node:readline') as typeof ReadlineModule).createInterface({ input: stream, crlfDelay: Infinity })
  let ended = false
  let failure: Error | undefined
  const end = (): void => {
    if (ended) return
    ended = true
    onEnd(failure)
  }
  rl.on('line', (line) => {
    const e = parseEventLine(line)
    if (e !== undefined) onEvent(e)
  })
  const fail = (err: Error): void => { failure ??= err; rl.close() }
  stream.on('error', fail)
  rl.on('error', fail) // readline re-emits the input's errors: unhandled, they would crash the process
  stream.on('close', () => { rl.close() }) // a socket torn down without an 'end'
  rl.on('close', end)
  return {
    close: () => {
      rl.close()
      const s = stream as NodeJS.ReadableStream & { destroy?: () => void }
      s.destroy?.()
    },
  }
}
