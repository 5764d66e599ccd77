// The containers this host runs, as discovery last learned them, and the rule that keeps
// the event stream and the periodic full list from undoing each other: every event bumps
// a sequence number; an answer from Docker (an inspect, a full list) is applied to a
// container only if no event for that container arrived after the answer was asked for.
// Synchronous, no I/O: the discoverer feeds it, unit tests drive it directly.
import { clip } from '../../lib/clip.ts'
import type { Logger } from '../../lib/logger.ts'
import type { Discovered } from '../types.ts'
import type { ContainerView, DockerHealth } from './container.ts'
import type { DockerHealthSource } from './health-source.ts'
import { serviceId, toDiscovered, type LabelContext, type Verdict } from './labels.ts'

interface Entry {
  view: ContainerView
  verdict: Verdict
  /** JSON of the verdict: what 'changed' compares. */
  key: string
}

const MAX_LISTED_PROBLEMS = 3 // containers named in lastError(); the rest are counted
const MAX_DESCRIBED_NAME = 128 // characters of a container's name in a log line or /health: Docker takes names of up to a megabyte

export class ContainerSet {
  readonly #ctx: LabelContext
  readonly #health: DockerHealthSource
  readonly #logger: Logger
  readonly #entries = new Map<string, Entry>()
  /** Full id -> sequence number of the last event seen for it. */
  readonly #lastEvent = new Map<string, number>()
  /** Full id -> the warning last logged, so each is logged once per container. */
  readonly #warned = new Map<string, string>()
  #seq = 0
  #services: readonly Discovered[] = Object.freeze([])

  constructor (components: { logger: Logger, health: DockerHealthSource }, ctx: LabelContext) {
    this.#ctx = ctx
    this.#health = components.health
    this.#logger = components.logger
  }

  /** The sequence number an answer asked for now is stamped with. */
  get seq (): number { return this.#seq }

  /** Records an event for a container; returns its sequence number. */
  noteEvent (id: string): number {
    this.#lastEvent.set(id, ++this.#seq)
    return this.#seq
  }

  /** True when no event for the container arrived after asOf. */
  isCurrent (id: string, asOf: number): boolean {
    return (this.#lastEvent.get(id) ?? 0) <= asOf
  }

  has (id: string): boolean { return this.#entries.has(id) }

  ids (): string[] { return [...this.#entries.keys()] }

  view (id: string): ContainerView | undefined { return this.#entries.get(id)?.view }

  /** The discovered services, in container order (frozen; a new array after each change). */
  services (): readonly Discovered[] { return this.#services }

  /** Applies an inspect answer asked for at asOf; returns whether the services changed. */
  apply (view: ContainerView, asOf: number): boolean {
    if (!this.isCurrent(view.id, asOf)) return false
    if (!view.serving) return this.remove(view.id, asOf)
    const verdict = toDiscovered(view, this.#ctx)
    const key = JSON.stringify(verdict)
    const before = this.#entries.get(view.id)
    this.#entries.set(view.id, { view, verdict, key })
    this.#health.set(serviceId(view.id), { hasHealthcheck: view.hasHealthcheck, ...(view.health !== undefined ? { health: view.health } : {}), ...(view.healthOutput !== undefined ? { output: view.healthOutput } : {}) })
    this.#warn(view, verdict)
    if (before?.key === key) return false
    this.#rebuild()
    return true
  }

  /** Forgets a container (it stopped) unless an event after asOf says otherwise. */
  remove (id: string, asOf = this.#seq): boolean {
    if (!this.isCurrent(id, asOf) || !this.#entries.has(id)) return false
    this.#entries.delete(id)
    this.#warned.delete(id)
    this.#health.delete(serviceId(id))
    this.#rebuild()
    return true
  }

  /** Docker's health state of a known container (from an event or a filtered list). */
  setHealth (id: string, health: DockerHealth | undefined, asOf: number): void {
    const e = this.#entries.get(id)
    if (e === undefined || !this.isCurrent(id, asOf) || !e.view.hasHealthcheck || e.view.health === health) return
    const { health: _old, healthOutput: _out, ...rest } = e.view
    e.view = { ...rest, ...(health !== undefined ? { health } : {}) }
    this.#health.setHealth(serviceId(id), health)
  }

  /** Forgets event stamps that every answer asked for from now on supersedes. */
  prune (asOf: number): void {
    for (const [id, seq] of this.#lastEvent) if (seq <= asOf) this.#lastEvent.delete(id)
  }

  /** Containers skipped for bad labels, for lastError(); undefined when there are none. */
  problems (): string | undefined {
    const bad = [...this.#entries.values()].flatMap(e => e.verdict.kind === 'invalid' ? [{ view: e.view, problems: e.verdict.problems }] : [])
    if (bad.length === 0) return undefined
    const listed = bad.slice(0, MAX_LISTED_PROBLEMS).map(e => `${describe(e.view)}: ${e.problems.join('; ')}`)
    const more = bad.length > MAX_LISTED_PROBLEMS ? ` (and ${bad.length - MAX_LISTED_PROBLEMS} more)` : ''
    return `${bad.length === 1 ? 'a container is' : `${bad.length} containers are`} skipped for bad labels: ${listed.join(' | ')}${more}`
  }

  /** One log line per container and distinct text: a container skipped, or announced without some ports. */
  #warn (view: ContainerView, verdict: Verdict): void {
    const text = verdict.kind === 'invalid'
      ? `skipping ${describe(view)}: ${verdict.problems.join('; ')}`
      : verdict.kind === 'service' && verdict.warnings !== undefined ? `${describe(view)}: ${verdict.warnings.join('; ')}` : undefined
    if (text === undefined) {
      const was = this.#warned.get(view.id)
      this.#warned.delete(view.id)
      if (was?.startsWith('skipping ') === true) this.#logger.info(`${describe(view)}: labels are valid now`)
      return
    }
    if (this.#warned.get(view.id) === text) return
    this.#warned.set(view.id, text)
    this.#logger.warn({ id: view.id }, text)
  }

  #rebuild (): void {
    this.#services = Object.freeze([...this.#entries.values()].flatMap(e => e.verdict.kind === 'service' ? [e.verdict.discovered] : []))
  }
}

/** "container /web-1 (3f4e5d6c7b8a)". */
export function describe (view: Pick<ContainerView, 'id' | 'name'>): string {
  return `container ${clip(view.name, MAX_DESCRIBED_NAME)} (${serviceId(view.id)})`
}
