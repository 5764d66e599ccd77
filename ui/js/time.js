// "N secs ago" as the original UI's time-ago filter (reference §9): the largest unit with
// more than one of it, 30-day months; "never" for no time or more than 20 years ago (the
// epoch a host that never reported carries).

const SEC = 1000
const MIN = 60 * SEC
const HOUR = 60 * MIN
const DAY = 24 * HOUR
const MONTH = 30 * DAY
const YEAR = 365 * DAY

export function timeAgo (iso, now = Date.now()) {
  if (!iso) return 'never'
  const t = Date.parse(iso)
  if (Number.isNaN(t)) return 'never'
  const diff = Math.max(0, now - t)
  if (diff > 20 * YEAR) return 'never'
  for (const [unit, ms] of [['years', YEAR], ['months', MONTH], ['days', DAY], ['hours', HOUR], ['mins', MIN]]) {
    const n = Math.floor(diff / ms)
    if (n > 1) return `${n} ${unit} ago`
  }
  return `${Math.floor(diff / SEC)} secs ago`
}

/** Refreshes every element carrying data-time (an RFC 3339 string) with its time-ago text. */
export function refreshTimes (root, now = Date.now()) {
  for (const el of root.querySelectorAll('[data-time]')) {
    const text = timeAgo(el.dataset.time, now)
    if (el.textContent !== text) el.textContent = text
  }
}
