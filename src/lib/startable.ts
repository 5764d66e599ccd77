/**
 * The lifecycle every component shares (after js-libp2p's Startable). Constructors do no
 * I/O and start no timers; start() and stop() are idempotent; stop() never throws and
 * releases every timer, socket and child process the component made.
 */
export interface Startable {
  start (): Promise<void>
  stop (): Promise<void>
}

/**
 * Starts components in order and returns the ones started. If one fails, stops the ones
 * already started (in reverse) and rethrows the failure. cancelled() is asked before each
 * start: once it says yes the rest are not started (a stop asked for during the start), and
 * the caller stops the ones returned.
 */
export async function startAll (components: readonly Startable[], cancelled: () => boolean = () => false): Promise<Startable[]> {
  const started: Startable[] = []
  for (const c of components) {
    if (cancelled()) break
    try {
      await c.start()
      started.push(c)
    } catch (err) {
      await stopAll(started)
      throw err
    }
  }
  return started
}

/** Stops components in reverse order; never throws. */
export async function stopAll (components: readonly Startable[]): Promise<void> {
  for (const c of [...components].reverse()) {
    try {
      await c.stop()
    } catch {
      // stop() must not throw; a component that does is not allowed to block the others
    }
  }
}
