import { pino, type Logger as PinoLogger } from 'pino'
import pretty from 'pino-pretty'

export type Logger = PinoLogger

export interface LoggerOptions {
  level: string
  format: 'text' | 'json'
  /** Where logs go; default stderr (fd 2), like the original. */
  destination?: NodeJS.WritableStream
}

/** The async destination of each logger createLogger() made, for flushLogger(). */
type SonicBoom = ReturnType<typeof pino.destination>
const destinations = new WeakMap<PinoLogger, SonicBoom>()

/** C0 controls but tab, DEL, C1 controls, and the Unicode line and paragraph separators. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROLS = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u2028\u2029]/g

/**
 * A message as the text format prints it. Messages carry names from gossip, container labels
 * and requests: a line break in one would print a line that looks like the daemon's own (a
 * forged "member db-1 departed"), and a terminal escape would recolour or clear the operator's
 * screen. So a line break is kept but followed by an indent (no line of a message but its first
 * starts at the left, where every real line starts with its time), and every other control
 * character is written as an escape (\r, \u001b). The JSON format escapes them itself.
 */
export function plainLine (text: string): string {
  return text.replace(CONTROLS, c => c === '\n' ? '\n    ' : c === '\r' ? '\\r' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/**
 * JSON lines with format "json"; otherwise readable text, coloured on a terminal. Both
 * write asynchronously (a burst of log lines never blocks the event loop on a slow
 * stderr); call flushLogger() before the process exits so the last lines are not lost.
 */
export function createLogger (opts: LoggerOptions): Logger {
  const base = { level: opts.level, base: undefined, serializers: { err: pino.stdSerializers.err } }
  // minLength 0: lines go out as soon as the event loop allows, only never synchronously.
  const dest = opts.destination === undefined ? pino.destination({ fd: 2, sync: false, minLength: 0 }) : undefined
  let logger: Logger
  if (opts.format === 'json') {
    logger = pino({ ...base, timestamp: pino.stdTimeFunctions.isoTime }, opts.destination ?? dest)
  } else {
    const isTty = opts.destination === undefined && process.stderr.isTTY
    const stream = pretty({
      sync: true, // formatting is synchronous; the write to dest below is not
      colorize: isTty,
      destination: opts.destination ?? dest,
      translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l',
      ignore: 'pid,hostname,component,id,type,args,name,host,path', // fields already in the message
      messageFormat: (log, messageKey) => {
        const msg = plainLine(String(log[messageKey] ?? ''))
        return typeof log.component === 'string' ? `[${plainLine(log.component)}] ${msg}` : msg
      },
    })
    logger = pino(base, stream)
  }
  if (dest !== undefined) destinations.set(logger, dest)
  return logger
}

/** Writes out every line a createLogger() logger still holds; synchronous, never throws (call before exit). */
export function flushLogger (logger: Logger | undefined): void {
  const dest = logger === undefined ? undefined : destinations.get(logger)
  if (dest === undefined) return
  try {
    dest.flushSync()
  } catch {
    // stderr gone (EPIPE/EAGAIN): nothing more can be written anyway
  }
}

/** A logger that drops everything (tests, library use). */
export function silentLogger (): Logger {
  return pino({ level: 'silent' })
}
