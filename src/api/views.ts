// The documents several routes share: the services document of /services.json (also the
// SSE snapshot), the cluster member list, the bare by-service map of /watch, and each
// /services/<name>.json. Each is serialised once per catalog version, however many clients
// ask for it.
import type { Catalog, ClusterMember, StateSnapshot } from '../catalog/index.ts'
import { encodeState, goEscape } from '../catalog/index.ts'
import { encodeStateSliced } from './state-document.ts'

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
 * JSON documents cached per catalog version (the catalog's snapshot object changes
 * whenever a record is stored), so N readers or watchers of one version cost one
 * serialisation: 20 clients polling /state.json of a 20,000-record catalog encode it once
 * per change, not 20 times. Documents that also show the member list are keyed by it too.
 */
export class DocumentCache {
  readonly #catalog: Catalog
  #byService = new WeakMap<StateSnapshot, string>()
  #state = new WeakMap<StateSnapshot, string>()
  /** The /state.json build for one catalog version (encoded in slices; concurrent readers share it). */
  #stateBuild: { version: number, parts: Promise<readonly Buffer[]> } | undefined
  /** Per catalog version, the last services document built: its member-list key and its bytes. */
  #services = new WeakMap<StateSnapshot, Map<string, string>>()
  /** Per catalog version, the /services/<name>.json documents asked for, as bytes. */
  #oneService = new WeakMap<StateSnapshot, Map<string, Buffer>>()

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

  /** True iff service(name) of the current version is built already (costs nothing to answer). */
  hasService (name: string): boolean {
    return this.#oneService.get(this.#catalog.snapshot())?.has(name) === true
  }

  /** The body of /services/<name>.json (2-space indented), or undefined when no instance has that name. */
  service (name: string): Buffer | undefined {
    const snap = this.#catalog.snapshot()
    let byName = this.#oneService.get(snap)
    if (byName === undefined) this.#oneService.set(snap, byName = new Map())
    let doc = byName.get(name)
    if (doc === undefined) {
      const instances = this.#catalog.byService()[name]
      if (instances === undefined || instances.length === 0) return undefined
      doc = Buffer.from(JSON.stringify({ Services: { [name]: instances }, ClusterName: this.#catalog.clusterName }, null, 2))
      if (byName.size >= 256) byName.clear() // names asked once are not worth keeping
      byName.set(name, doc)
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

  /**
   * The bytes of /state.json for the current catalog version, in parts (state-document.ts),
   * encoded in slices with yields so a large state never stalls the event loop; every reader
   * of one version shares one build.
   */
  async stateParts (): Promise<readonly Buffer[]> {
    const version = this.#catalog.version
    if (this.#stateBuild?.version !== version) this.#stateBuild = { version, parts: encodeStateSliced(this.#catalog) }
    return await this.#stateBuild.parts
  }

  /**
   * A services document (servicesDocument()) for the current version and this member
   * list: 2-space indented (/services.json) or compact (SSE snapshots).
   */
  services (members: readonly ClusterMember[], opts: { indent: boolean, extra?: Record<string, unknown> }): string {
    const snap = this.#catalog.snapshot()
    const key = `${opts.indent ? 'i' : 'c'}${JSON.stringify(members)}${JSON.stringify(opts.extra ?? {})}`
    let byKey = this.#services.get(snap)
    if (byKey === undefined) this.#services.set(snap, byKey = new Map())
    let json = byKey.get(key)
    if (json === undefined) {
      const doc = servicesDocument(this.#catalog, members, opts.extra)
      json = opts.indent ? JSON.stringify(doc, null, 2) : JSON.stringify(doc)
      if (byKey.size >= 4) byKey.clear() // members move on; old keys of this version are not asked again
      byKey.set(key, json)
    }
    return json
  }
}
