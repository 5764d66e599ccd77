// Port lists as operators write them: "8080" or "10000-19999" ([proxy] service_ports).

/** "N" or "N-M" (1..65535, N <= M) as [N, M]; undefined when it is neither. */
export function parsePortRange (text: string): [number, number] | undefined {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text.trim())
  if (m === null) return undefined
  const lo = Number(m[1])
  const hi = m[2] === undefined ? lo : Number(m[2])
  return lo >= 1 && hi <= 65535 && lo <= hi ? [lo, hi] : undefined
}

/** A set of ports from such a list; an empty list holds every port. */
export class PortRanges {
  readonly #ranges: ReadonlyArray<[number, number]>

  /** Items that do not parse are left out (the config check refuses them before this). */
  constructor (list: readonly string[]) {
    this.#ranges = list.map(parsePortRange).filter((r): r is [number, number] => r !== undefined)
  }

  /** Every port (the list was empty). */
  get all (): boolean { return this.#ranges.length === 0 }

  has (port: number): boolean {
    if (this.#ranges.length === 0) return true
    for (const [lo, hi] of this.#ranges) if (port >= lo && port <= hi) return true
    return false
  }
}
