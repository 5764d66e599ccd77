// Applies the clock correction the probes measure (clock-offset.ts) to this host's clock,
// and says so: a host whose clock is off logs it once per change, with the fix.
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from '../lib/logger.ts'
import { MAX_CORRECTION_MS, MIN_CORRECTION_MS, type ClockOffsets, type Correction, type OffsetSample } from './clock-offset.ts'

/** A joining host waits at most this long for its members' clocks before it announces (the first probes answer within about a round trip). */
export const CLOCK_SETTLE_MS = 3000

export interface ClockCorrectorComponents {
  logger: Logger
  offsets: ClockOffsets
  /** Sets the correction on this host's clock; absent: measured and reported only. */
  correct?: (ms: number) => void
}

export class ClockCorrector {
  readonly #c: ClockCorrectorComponents
  #applied = 0
  #warnedTooLarge = false

  constructor (components: ClockCorrectorComponents) {
    this.#c = components
  }

  /** The correction in force (ms added to this host's clock). */
  get appliedMs (): number { return this.#applied }

  add (peerId: string, sample: OffsetSample): void {
    this.#c.offsets.add(peerId, sample)
    this.#update()
  }

  forget (peerId: string): void {
    this.#c.offsets.forget(peerId)
    this.#update()
  }

  /**
   * Resolves once every member `connected()` lists has been measured, or the samples so far
   * agree with this clock, or no member is connected any more (one that refused us, e.g. a
   * hostname conflict, sends no probe), or after CLOCK_SETTLE_MS: stamps made after it are corrected.
   */
  async settled (connected: () => readonly string[], signal: AbortSignal): Promise<void> {
    const deadline = Date.now() + CLOCK_SETTLE_MS
    while (Date.now() < deadline && !signal.aborted) {
      const offsets = this.#c.offsets.offsets()
      const peerIds = connected()
      if (peerIds.every(id => offsets.has(id))) return
      if (offsets.size > 0 && [...offsets.values()].every(o => Math.abs(o) < MIN_CORRECTION_MS)) return
      await sleep(50, undefined, { signal }).catch(() => {})
    }
  }

  #update (): void {
    const c = this.#c.offsets.correction()
    if (c.ignored === 'too large') {
      if (!this.#warnedTooLarge) this.#c.logger.error(`the cluster's clocks are ${describe(c.measuredMs)} this host's (median of ${c.members} member${c.members === 1 ? '' : 's'}): beyond the ${MAX_TEXT} this host corrects, so it keeps its own clock; fix the time sync (NTP) of this host or of the others`)
      this.#warnedTooLarge = true
    } else {
      this.#warnedTooLarge = false
    }
    // Re-stepping for jitter would move stamps back and forth: only a change of half the dead band counts.
    if (Math.abs(c.correctionMs - this.#applied) < MIN_CORRECTION_MS / 2 && !(c.correctionMs === 0 && this.#applied !== 0)) return
    this.#applied = c.correctionMs
    this.#c.correct?.(c.correctionMs)
    this.#log(c)
  }

  #log (c: Correction): void {
    if (c.correctionMs === 0) {
      this.#c.logger.info(`this host's clock agrees with the cluster again (median offset ${(c.measuredMs / 1000).toFixed(3)} s over ${c.members} member${c.members === 1 ? '' : 's'}): no correction`)
      return
    }
    const s = Math.abs(c.correctionMs / 1000).toFixed(1)
    this.#c.logger.warn(`this host's clock is off by ${c.correctionMs > 0 ? '-' : '+'}${s} s (${c.correctionMs > 0 ? 'behind' : 'ahead of'} the median of ${c.members} member${c.members === 1 ? '' : 's'}): stamping records ${s} s ${c.correctionMs > 0 ? 'later' : 'earlier'} to match; fix this host's time sync (NTP)`)
  }
}

const MAX_TEXT = `${MAX_CORRECTION_MS / 60_000} minutes`

function describe (ms: number): string {
  return `${Math.abs(ms / 1000).toFixed(1)} s ${ms > 0 ? 'ahead of' : 'behind'}`
}
