import { pino, type Logger as PinoLogger } from 'pino'
import pretty from 'pino-pretty'

export type Logger = PinoLogger

export interface LoggerOptions {
  level: string
  format: 'text' | 'json'
  /** Where logs go; default stderr (fd 2), like the original. */
  destination?: NodeJS.WritableStream
}

/**
 * JSON lines with format "json"; otherwise readable text, coloured on a terminal.
 * Both write synchronously, so the last lines before an exit are never lost.
 */
export function createLogger (opts: LoggerOptions): Logger {
  const base = { level: opts.level, base: undefined, serializers: { err: pino.stdSerializers.err } }
  if (opts.format === 'json') {
    return pino({ ...base, timestamp: pino.stdTimeFunctions.isoTime }, opts.destination ?? pino.destination({ fd: 2, sync: true }))
  }
  const isTty = opts.destination === undefined && process.stderr.isTTY
  const stream = pretty({
    sync: true,
    colorize: isTty,
    destination: opts.destination ?? 2,
    translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l',
    ignore: 'pid,hostname,component,id,type,args,name,host,path', // fields already in the message
    messageFormat: '{if component}[{component}] {end}{msg}',
  })
  return pino(base, stream)
}

/** A logger that drops everything (tests, library use). */
export function silentLogger (): Logger {
  return pino({ level: 'silent' })
}
