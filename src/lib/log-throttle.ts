// One log line per period at most for an event that can come by the thousand (refused
// requests, ports past a cap): every occurrence is counted, and the line that goes out says
// how many there were since the one before, so a flood stays visible without filling the disk.
// No timer runs: a line goes out when an occurrence comes after the period (BurstLog, for
// per-service lines, sums up at the end of its window instead).

export class LogThrottle {
  readonly #periodMs: number
  #lastMs = -Infinity
  #count = 0

  constructor (periodMs: number) {
    this.#periodMs = periodMs
  }

  /**
   * Counts n occurrences at nowMs. When a line is due (none yet, or the last one a period ago),
   * returns how many were counted since the last line, these n included, and starts a new
   * period; otherwise undefined. Nothing counted (n = 0 and nothing pending) is never due.
   */
  note (nowMs: number, n = 1): number | undefined {
    this.#count += n
    if (this.#count === 0 || nowMs - this.#lastMs < this.#periodMs) return undefined
    const count = this.#count
    this.#lastMs = nowMs
    this.#count = 0
    return count
  }
}
