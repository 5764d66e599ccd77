// The documents several routes share: the services document of /services.json (also the
// SSE snapshot), the cluster member list, and the bare by-service map of /watch. Each is
// serialised once per catalog version, however many clients ask for it.
import type { Catalog, ClusterMember, StateSnapshot } from '../catalog/index.ts'
import { encodeState, goEscape } from '../catalog/index.ts'

export type { ClusterMember } from '../catalog/index.ts'

/** ClusterMembers as the original's services document: keyed by name, sorted. */
export function membersObject (members: readonly ClusterMember[]): Record<string, ClusterMember> {
  return Object.fromEntries([...members].sort((a, b) => a.Name.localeCompare(b.Name)).map(m => [m.Name, m]))
}

/**
 * The body of /api/services.json (reference §5.3): Services by name, ClusterMembers when
 * there are any, ClusterName. `extra` fields are appended (the SSE snapshot adds Hostname).
 */
export function servicesDocument (catalog: Catalog, members: readonly ClusterMember[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  const body: Record<string, unknown> = { Services: catalog.byService() }
  if (members.length > 0) body.ClusterMembers = membersObject(members)
  body.ClusterName = catalog.clusterName
  return Object.assign(body, extra)
}

/**
 * Compact JSON documents cached per catalog version (the catalog's snapshot object changes
 * whenever a record is stored), so N watchers of one change cost one serialisation.
 */
export class DocumentCache {
  readonly #catalog: Catalog
  #byService = new WeakMap<StateSnapshot, string>()
  #state = new WeakMap<StateSnapshot, string>()

  constructor (catalog: Catalog) {
    this.#catalog = catalog
  }

  /** JSON of the bare name -> instances map (the original's default /watch payload). */
  byService (): string {
    const snap = this.#catalog.snapshot()
    let doc = this.#byService.get(snap)
    if (doc === undefined) {
      doc = goEscape(JSON.stringify(this.#catalog.byService())) // as Go's json.Marshal: <, >, & escaped
      this.#byService.set(snap, doc)
    }
    return doc
  }

  /** The whole state, encoded as the original (the ?by_service=false /watch payload). */
  state (): string {
    const snap = this.#catalog.snapshot()
    let doc = this.#state.get(snap)
    if (doc === undefined) {
      doc = encodeState(snap)
      this.#state.set(snap, doc)
    }
    return doc
  }
}
