/** No retry waits longer than this, however many retries are configured: a receiver that comes back is served within 10 s. */
export const MAX_RETRY_DELAY_MS = 10_000

/**
 * Delay before retry n (n = 1 for the first retry): baseMs·2^(n−1), at most
 * MAX_RETRY_DELAY_MS, with "equal jitter": uniformly within [d/2, d], so listeners that
 * failed together do not retry in lockstep, yet each waits at least half the step.
 */
export function retryDelay (n: number, baseMs: number, random: () => number = Math.random): number {
  const d = Math.min(MAX_RETRY_DELAY_MS, baseMs * 2 ** Math.max(0, n - 1))
  return d / 2 + random() * (d / 2)
}
