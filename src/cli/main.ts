// The command line: argv and env in, exit code out. The only place that calls process.exit.
// Exit codes: 0 ok (and clean shutdown on SIGINT/SIGTERM), 1 failed to start or crashed,
// 2 bad configuration or usage.
import { loadConfig, formatConfig } from '../config/index.ts'
import { Daemon } from '../daemon/daemon.ts'
import { ConfigError, errorMessage } from '../lib/errors.ts'
import { createLogger, flushLogger, type Logger } from '../lib/logger.ts'
import { packageVersion } from '../lib/version.ts'
import { parseCliArgs, usage } from './args.ts'

export const EXIT_OK = 0
export const EXIT_FAILURE = 1
export const EXIT_USAGE = 2
const STOP_TIMEOUT_MS = 5000 // past this a stuck component no longer holds the process

/** The daemon's logger once created, flushed by run() before exiting. */
let activeLogger: Logger | undefined

export async function main (argv: string[], env: Record<string, string | undefined>): Promise<number> {
  let daemon: Daemon
  let logger: Logger
  try {
    const args = parseCliArgs(argv)
    if (args.help) { process.stdout.write(usage()); return EXIT_OK }
    if (args.version) { process.stdout.write(`sidecar ${packageVersion()} (node ${process.version})\n`); return EXIT_OK }
    const { config, file, warnings } = loadConfig({ configFile: args.configFile, env, overrides: args.overrides, cwd: process.cwd() })
    if (args.checkConfig) {
      for (const w of warnings) process.stderr.write(`warning: ${w}\n`)
      process.stdout.write(`# effective configuration${file !== undefined ? ` (file: ${file})` : ' (no config file)'}\n${formatConfig(config)}`)
      return EXIT_OK
    }
    logger = createLogger({ level: config.sidecar.logging_level, format: config.sidecar.logging_format })
    activeLogger = logger
    for (const w of warnings) logger.warn(w)
    if (file !== undefined) logger.info(`configuration from ${file}`)
    daemon = new Daemon(config, { logger })
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`sidecar: ${err.message}\n(see sidecar --help, and sidecar.example.toml for every key)\n`)
      return EXIT_USAGE
    }
    throw err
  }

  try {
    await daemon.start()
  } catch (err) {
    logger.fatal(`sidecar could not start: ${errorMessage(err)}`)
    return EXIT_FAILURE
  }

  return await new Promise<number>((resolve) => {
    let stopping = false
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        logger.warn(`${signal} again: exiting at once`)
        resolve(EXIT_FAILURE)
        return
      }
      stopping = true
      logger.info(`${signal} received, shutting down`)
      const timer = setTimeout(() => {
        logger.error(`shutdown took longer than ${STOP_TIMEOUT_MS} ms, exiting anyway`)
        resolve(EXIT_FAILURE)
      }, STOP_TIMEOUT_MS)
      daemon.stop().then(() => {
        clearTimeout(timer)
        logger.info('stopped')
        resolve(EXIT_OK)
      }, (err: unknown) => {
        clearTimeout(timer)
        logger.error({ err }, 'error while stopping')
        resolve(EXIT_FAILURE)
      })
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
  })
}

export function run (): void {
  main(process.argv.slice(2), process.env).then((code) => {
    flushLogger(activeLogger) // logging is asynchronous: write out the last lines first
    process.exit(code)
  }, (err: unknown) => {
    flushLogger(activeLogger)
    process.stderr.write(`sidecar: unexpected error: ${err instanceof Error ? err.stack : String(err)}\n`)
    process.exit(EXIT_FAILURE)
  })
}
