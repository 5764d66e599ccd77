// The command line: argv and env in, exit code out. The only place that calls process.exit.
// Exit codes: 0 ok (and clean shutdown on SIGINT/SIGTERM), 1 failed to start or crashed,
// 2 bad configuration or usage (also a start refused for it: a data_dir that never answers).
// SIGHUP re-reads the static discovery file and never exits.
import { loadConfig, formatConfig } from '../config/index.ts'
import { checkStartInputs } from '../daemon/check.ts'
import { Daemon, STATE_PROTOCOL_VERSION } from '../daemon/daemon.ts'
import { ConfigError, StaticFileError, errorMessage } from '../lib/errors.ts'
import { createLogger, flushLogger, type Logger } from '../lib/logger.ts'
import { packageVersion } from '../lib/version.ts'
import { parseCliArgs, usage } from './args.ts'

export const EXIT_OK = 0
export const EXIT_FAILURE = 1
export const EXIT_USAGE = 2
const STOP_TIMEOUT_MS = 5000 // past this a stuck component no longer holds the process
/** How long the process may take to end by itself after main() is done, before process.exit() ends it. */
const EXIT_GRACE_MS = 2000

/** The daemon's logger once created, flushed by run() before exiting. */
let activeLogger: Logger | undefined
/** Set when the process must end at once: a second signal, or a stop past its limit, with components still running. */
let exitAtOnce = false

export async function main (argv: string[], env: Record<string, string | undefined>): Promise<number> {
  let daemon: Daemon
  let logger: Logger
  try {
    const args = parseCliArgs(argv)
    if (args.help) { process.stdout.write(usage()); return EXIT_OK }
    // The gossip protocol tells builds apart that the package version does not (0.1.0 spoke
    // 1.0.0, and README's Upgrading names the protocol a peer must speak).
    if (args.version) { process.stdout.write(`sidecar ${packageVersion()} (gossip protocol ${STATE_PROTOCOL_VERSION}, node ${process.version})\n`); return EXIT_OK }
    const { config, file, warnings } = loadConfig({ configFile: args.configFile, env, overrides: args.overrides, typedFlags: args.typedFlags, cwd: process.cwd() })
    if (args.checkConfig) {
      for (const w of warnings) process.stderr.write(`warning: ${w}\n`)
      let checked: string[]
      try {
        checked = await checkStartInputs(config, w => { process.stderr.write(`warning: ${w}\n`) }) // the static file: the daemon would refuse to start without a good one
      } catch (err) {
        if (!(err instanceof StaticFileError)) throw err
        process.stderr.write(`sidecar: ${err.message}\n`)
        return EXIT_USAGE
      }
      process.stdout.write(`# effective configuration${file !== undefined ? ` (file: ${file})` : ' (no config file)'}\n${checked.map(c => `# ${c}\n`).join('')}${formatConfig(config)}`)
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

  // Signals are followed from before the start: a SIGTERM while 10,000 services are being
  // announced, or during a join, is a graceful stop once the start is done (within the same
  // STOP_TIMEOUT_MS), not the default action, which killed the process with no leave.
  let started = false
  let stopping = false
  let exit!: (code: number) => void
  let limit: NodeJS.Timeout | undefined
  const exited = new Promise<number>((resolve) => { exit = resolve }).finally(() => { clearTimeout(limit) })
  const stop = (): void => {
    daemon.stop().then(() => {
      logger.info('stopped')
      exit(EXIT_OK)
    }, (err: unknown) => {
      logger.error({ err }, 'error while stopping')
      exit(EXIT_FAILURE)
    })
  }
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn(`${signal} again: exiting at once`)
      exitAtOnce = true
      exit(EXIT_FAILURE)
      return
    }
    stopping = true
    logger.info(started ? `${signal} received, shutting down` : `${signal} received while starting: ending the start early, then shutting down`)
    limit = setTimeout(() => {
      logger.error(`shutdown took longer than ${STOP_TIMEOUT_MS} ms, exiting anyway`)
      exitAtOnce = true
      exit(EXIT_FAILURE)
    }, STOP_TIMEOUT_MS)
    if (started) stop()
    else daemon.cancelStart() // the start returns soon; stop() follows it (below)
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  // one received while the program loaded, noted by bin/sidecar.js (whose handler, left in place, only notes)
  const early = (globalThis as { sidecarEarlySignal?: NodeJS.Signals }).sidecarEarlySignal
  if (early !== undefined) onSignal(early)
  // SIGHUP (a terminal hangup, systemd's ExecReload) reloads what can be: its default action
  // ended the process at once, with no leave.
  process.on('SIGHUP', () => {
    if (stopping) { logger.info('SIGHUP received while stopping: ignored'); return }
    const what = daemon.reload()
    logger.info(`SIGHUP received: ${what.length > 0 ? `re-reading ${what.join(' and ')} now` : 'nothing to re-read (no static discovery)'}; configuration file, environment and flag changes need a restart`)
  })

  // a start refused for what the configuration names (a data_dir that never answers) exits as a bad configuration does
  const start = daemon.start().then((): true => true, (err: unknown) => {
    logger.fatal(`sidecar could not start: ${errorMessage(err)}`)
    return err instanceof ConfigError ? EXIT_USAGE : EXIT_FAILURE
  })
  const outcome = await Promise.race([start, exited.then(code => ({ code }))])
  if (typeof outcome === 'object') return outcome.code // a second signal, or the stop limit, during the start
  if (outcome !== true) return outcome
  started = true
  if (stopping) stop()
  return await exited
}

export function run (): void {
  main(process.argv.slice(2), process.env).then(finish, (err: unknown) => {
    flushLogger(activeLogger)
    process.stderr.write(`sidecar: unexpected error: ${err instanceof Error ? err.stack : String(err)}\n`)
    exitAtOnce = true
    finish(EXIT_FAILURE)
  })
}

/**
 * Ends the process with code. Normally by letting the event loop run dry rather than by
 * process.exit(): process.exit() shuts V8's worker threads down before the heap, and a
 * background compile waiting for a collection then deadlocks the exit for good
 * (nodejs/node#54918; here about once in 200 runs of --check-config, each hung until killed).
 * Anything still open after EXIT_GRACE_MS is not waited for.
 */
function finish (code: number): void {
  flushLogger(activeLogger) // logging is asynchronous: write out the last lines first
  process.exitCode = code
  if (exitAtOnce) process.exit(code)
  setTimeout(() => { process.exit(code) }, EXIT_GRACE_MS).unref()
}
