// "Did you mean" for unknown sections, keys, flags and env vars.
import { closest, distance } from 'fastest-levenshtein'

/**
 * The candidate nearest to word, when it is near enough to be a plausible typo
 * (edit distance at most a third of the word, and at least 2 allowed); else undefined.
 */
export function nearest (word: string, candidates: readonly string[]): string | undefined {
  if (candidates.length === 0) return undefined
  const lower = word.toLowerCase()
  const best = closest(lower, candidates)
  const limit = Math.max(2, Math.floor(word.length / 3))
  return distance(lower, best) <= limit ? best : undefined
}

/** ", did you mean X?" or ''. */
export function didYouMean (word: string, candidates: readonly string[], show: (c: string) => string = (c) => c): string {
  const best = nearest(word, candidates)
  return best === undefined ? '' : `, did you mean ${show(best)}?`
}
