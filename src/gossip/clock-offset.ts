// Origin-side clock correction. The prober measures every member's clock against ours,
// NTP-style, on the echo stream it already runs (t1 sent, t2 the peer's clock, t4 back:
// offset = t2 - (t1 + t4) / 2, give or take half the round trip). This host then stamps
// its records with its own clock moved by the median offset of the cluster (this host
// counted as 0), so a host whose clock is a minute off still stamps records its peers
// judge right: not in their future (refused, or never replaced), not near expiry.
// The median ignores a lying or skewed minority; with no strict majority (two hosts that
// disagree, a tie) nothing is corrected, since nobody can tell which clock is right.

/** Round trips remembered per member; the one with the shortest round trip is used (NTP's clock filter). */
export const SAMPLES_PER_MEMBER = 8
/**
 * Offsets below this are not corrected: hosts synced by NTP differ by milliseconds, and a
 * probe on a loaded host measures tens of ms of jitter; stepping the clock for that would
 * move stamps back and forth for nothing.
 */
export const MIN_CORRECTION_MS = 500
/**
 * The largest correction applied. A minute or two is a host whose time sync broke; a
 * cluster median hours away from this host's clock is more likely a majority of liars or
 * a broken cluster, and following it would stamp records that far off. Beyond this the
 * host logs an error and keeps its own clock.
 */
export const MAX_CORRECTION_MS = 10 * 60_000
/** A sample whose round trip took longer than this says little about the offset (its error is up to half of it). */
export const MAX_SAMPLE_RTT_MS = 2000

export interface OffsetSample {
  /** The peer's clock minus ours, ms. */
  readonly offsetMs: number
  readonly rttMs: number
}

/** NTP-style offset of the peer's clock from ours, and the round trip, from one probe. */
export function sampleOf (t1: number, t2: number, t4: number): OffsetSample | undefined {
  const rttMs = t4 - t1
  if (!Number.isFinite(t2) || !Number.isFinite(rttMs) || rttMs < 0 || rttMs > MAX_SAMPLE_RTT_MS) return undefined
  return { offsetMs: t2 - (t1 + t4) / 2, rttMs }
}

/** The sample with the shortest round trip: the least delayed, so the most trustworthy. */
export function bestSample (samples: readonly OffsetSample[]): OffsetSample | undefined {
  let best: OffsetSample | undefined
  for (const s of samples) if (best === undefined || s.rttMs < best.rttMs) best = s
  return best
}

/**
 * The median of this host's offset (0) and every member's; with an even count, of the two
 * middle values the one nearer 0 (no majority says this host is off by more).
 */
export function clusterOffset (memberOffsets: readonly number[]): number {
  const all = [0, ...memberOffsets.filter(Number.isFinite)].sort((a, b) => a - b)
  const mid = all.length >> 1
  if (all.length % 2 === 1) return all[mid]
  const [lo, hi] = [all[mid - 1], all[mid]]
  return Math.abs(lo) <= Math.abs(hi) ? lo : hi
}

export interface Correction {
  /** What this host adds to its own clock, ms (0 when none). */
  readonly correctionMs: number
  /** The cluster's median offset from our clock, whether applied or not. */
  readonly measuredMs: number
  /** Members with a sample. */
  readonly members: number
  /** Why the measured offset is not applied, if it is not. */
  readonly ignored?: 'small' | 'too large'
}

/** The correction for a measured median offset: dead band below MIN_CORRECTION_MS, none beyond MAX_CORRECTION_MS. */
export function correctionFor (measuredMs: number, members: number): Correction {
  const abs = Math.abs(measuredMs)
  if (abs < MIN_CORRECTION_MS) return { correctionMs: 0, measuredMs, members, ...(abs > 0 ? { ignored: 'small' as const } : {}) }
  if (abs > MAX_CORRECTION_MS) return { correctionMs: 0, measuredMs, members, ignored: 'too large' }
  return { correctionMs: Math.round(measuredMs), measuredMs, members }
}

/** Per-member samples and the correction they add up to. Not a Startable: no timers, no I/O. */
export class ClockOffsets {
  readonly #samples = new Map<string, OffsetSample[]>()

  /** Records one measurement of a member's clock (peer minus ours). */
  add (peerId: string, sample: OffsetSample): void {
    const list = this.#samples.get(peerId) ?? []
    list.push(sample)
    if (list.length > SAMPLES_PER_MEMBER) list.shift()
    this.#samples.set(peerId, list)
  }

  /** A member left: its clock no longer counts. */
  forget (peerId: string): void { this.#samples.delete(peerId) }

  has (peerId: string): boolean { return this.#samples.has(peerId) }

  /** Each member's best offset, ms. */
  offsets (): Map<string, number> {
    const out = new Map<string, number>()
    for (const [id, list] of this.#samples) {
      const best = bestSample(list)
      if (best !== undefined) out.set(id, best.offsetMs)
    }
    return out
  }

  correction (): Correction {
    const offsets = [...this.offsets().values()]
    return correctionFor(clusterOffset(offsets), offsets.length)
  }
}
