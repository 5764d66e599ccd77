// Docker's own HEALTHCHECK state as a supplied check (type "Docker"): the discoverer keeps
// it current from inspect answers, health_status events and the reconcile, and the health
// monitor reads it (see health/supplied.ts).
import { EventEmitter } from 'node:events'
import type { CheckResult } from '../../health/checks.ts'
import type { SuppliedCheckSource } from '../../health/supplied.ts'
import type { DockerHealth } from './container.ts'
import { DOCKER_CHECK } from './labels.ts'

export interface HealthFacts {
  readonly hasHealthcheck: boolean
  readonly health?: DockerHealth
  readonly output?: string
}

/** Why a container with a HEALTHCHECK has no verdict yet. */
export const STARTING = 'Docker reports the container\'s HEALTHCHECK as starting: no verdict until a probe passes, or fails after its start period'

/** The verdict for a container's health facts; undefined while Docker says "starting". */
export function verdictOf (facts: HealthFacts | undefined): CheckResult | undefined {
  if (facts === undefined) return { ok: false, error: 'container not found in Docker' }
  if (!facts.hasHealthcheck) return { ok: false, error: 'HealthCheck=Docker, but the container and its image define no HEALTHCHECK' }
  switch (facts.health) {
    case 'healthy': return { ok: true }
    case 'unhealthy': return { ok: false, error: `Docker reports the container unhealthy${facts.output !== undefined ? `: ${facts.output}` : ''}` }
    default: return undefined // starting: Docker has no verdict yet
  }
}

export class DockerHealthSource extends EventEmitter<{ update: [args: string] }> implements SuppliedCheckSource {
  readonly type = DOCKER_CHECK
  /** By service ID (the check's args). */
  readonly #facts = new Map<string, HealthFacts>()

  result (args: string): CheckResult | undefined {
    return verdictOf(this.#facts.get(args))
  }

  pending (args: string): string | undefined {
    return this.#facts.get(args)?.hasHealthcheck === true ? STARTING : undefined
  }

  /** Records the facts of one container; emits 'update' when its verdict changed. */
  set (id: string, facts: HealthFacts): void {
    const before = this.#facts.get(id)
    this.#facts.set(id, facts)
    if (before?.health !== facts.health || before?.hasHealthcheck !== facts.hasHealthcheck || before?.output !== facts.output) this.emit('update', id)
  }

  /** Changes only the health state (from an event or a filtered list); the output goes with it. */
  setHealth (id: string, health: DockerHealth | undefined): void {
    const before = this.#facts.get(id)
    if (before === undefined || before.health === health) return
    this.set(id, { hasHealthcheck: before.hasHealthcheck, ...(health !== undefined ? { health } : {}) })
  }

  delete (id: string): void {
    this.#facts.delete(id)
  }

  /** Keeps only these IDs. */
  retain (ids: ReadonlySet<string>): void {
    for (const id of this.#facts.keys()) if (!ids.has(id)) this.#facts.delete(id)
  }
}
