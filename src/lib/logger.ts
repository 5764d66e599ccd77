import { pino, type Logger as PinoLogger } from 'pino'
import pretty from 'pino-pretty'
import { plainLine } from './controls.ts'

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
    // the level by its name ("info", "warn"), as the original's logrus wrote it, not pino's number
    logger = pino({ ...base, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } }, opts.destination ?? dest)
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
