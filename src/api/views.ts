// The documents several routes share: the services document of /services.json (also the
// SSE snapshot), the cluster member list, the bare by-service map of /watch, and each
// /services/<name>.json. Each is serialised once per catalog version, however many clients
// ask for it.
import type { Catalog, ClusterMember } from '../catalog/index.ts'
import type { Service } from '../service/index.ts'
import { goEscape, StateMemo } from '../catalog/index.ts'
import { jsonParts } from '../lib/json-parts.ts'
import { nextTurn } from '../lib/slicer.ts'
import { SharedBuild } from '../lib/shared-build.ts'
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
export function servicesDocument (catalog: Catalog, members: readonly ClusterMember[], extra: Record<string, unknown> = {}, byService = catalog.byService()): Record<string, unknown> {
  const body: Record<string, unknown> = { Services: byService }
  if (members.length > 0) body.ClusterMembers = membersObject(members)
  body.ClusterName = catalog.clusterName
  return Object.assign(body, extra)
}

/**
 * JSON documents cached per catalog version (catalog.version moves whenever a record is
 * stored or forgotten), so N readers or watchers of one version cost one
 * serialisation: 20 clients polling /state.json of a 20,000-record catalog encode it once
 * per change, not 20 times. Documents that also show the member list are keyed by it too.
 */
export class DocumentCache {
  readonly #catalog: Catalog
  /** The /watch payload, kept for its catalog version. */
  #byService = new SharedBuild<number, Buffer[]>()
  /**
   * catalog.byService() of one catalog version (read-only: the documents serialise it, nobody
   * changes it). Keyed by the version number, not by a snapshot(): that would make a frozen
   * object of every record of the changed host at each version, for nothing.
   */
  #grouping: { readonly version: number, readonly grouped: Record<string, Service[]> } | undefined
  /** /state.json, kept for its catalog version (encoded in slices; concurrent readers share it). */
  #stateBuild = new SharedBuild<number, Buffer[]>()
  /**
   * The blocks of the last /state.json built: the next version encodes only the blocks whose
   * records changed (a /watch?by_service=false client gets one per change). It holds one
   * document's bytes, mostly the very Buffers the last build's readers hold.
   */
  readonly #stateMemo = new StateMemo()
  /** The SSE snapshot, kept for its catalog version and member list. */
  #snapshot = new SharedBuild<{ version: number, members: readonly ClusterMember[], membersKey: string }, { parts: readonly Buffer[], id: number }>((a, b) => a.version === b.version && a.membersKey === b.membersKey)
  /**
   * The /services/<name>.json documents asked for, by name: each kept for its catalog version
   * (the number: up to 256 kept snapshot objects would hold up to 256 versions of the state).
   */
  #oneService = new Map<string, SharedBuild<number, Buffer[] | undefined>>()
  /** /services.json, kept for its catalog version and member list. */
  #servicesIndented = new SharedBuild<{ version: number, members: readonly ClusterMember[], membersKey: string }, Buffer[]>((a, b) => a.version === b.version && a.membersKey === b.membersKey)

  constructor (catalog: Catalog) {
    this.#catalog = catalog
  }

  /**
   * The original's default /watch payload: the bare name -> instances map, compact, with Go's
   * escaping of <, > and &; in parts built in time slices, once per catalog version, shared by
   * every watcher (a change at 10,000 services was one encoding of about 40 ms in one piece).
   */
  async byServiceParts (): Promise<readonly Buffer[]> {
    // in a turn of its own: grouping and sorting 10,000 records (the build's first step) takes
    // milliseconds, and a watcher asks from whatever callback woke it (a change, a drained socket)
    await nextTurn()
    return await this.#byService.get(() => this.#catalog.version, async () => await jsonParts(this.#grouped(), { indent: 0, depth: 2, escape: goEscape }))
  }

  /**
   * The body of /services/<name>.json (2-space indented), in parts built in time slices, or
   * undefined when no instance has that name. Readers of one version and name share the build.
   */
  async service (name: string): Promise<readonly Buffer[] | undefined> {
    let doc = this.#oneService.get(name)
    if (doc === undefined) {
      if (this.#oneService.size >= 256) this.#oneService.clear() // names asked once are not worth keeping
      this.#oneService.set(name, doc = new SharedBuild())
    }
    return await doc.get(() => this.#catalog.version, async () => {
      const instances = this.#grouped()[name]
      if (instances === undefined || instances.length === 0) return undefined
      return await jsonParts({ Services: { [name]: instances }, ClusterName: this.#catalog.clusterName })
    })
  }

  /** How many names' /services/<name>.json builds are kept now (at most 256; tests). */
  get serviceDocumentsKept (): number {
    return this.#oneService.size
  }

  /**
   * The bytes of /state.json for the current catalog version, in parts (state-document.ts),
   * encoded in slices with yields so a large state never stalls the event loop; every reader
   * of one version shares one build. Also the ?by_service=false /watch payload.
   */
  async stateParts (): Promise<readonly Buffer[]> {
    return await this.#stateBuild.get(() => this.#catalog.version, async () => await encodeStateSliced(this.#catalog, this.#stateMemo))
  }

  /**
   * The body of /services.json (servicesDocument(), 2-space indented) for the current version
   * and this member list, in parts built in time slices; readers of one version share the build.
   */
  async servicesIndented (members: () => readonly ClusterMember[]): Promise<readonly Buffer[]> {
    return await this.#servicesIndented.get(
      () => {
        const list = members()
        return { version: this.#catalog.version, members: list, membersKey: JSON.stringify(list) }
      },
      async k => await jsonParts(servicesDocument(this.#catalog, k.members, {}, this.#grouped())))
  }

  /**
   * The SSE snapshot: the services document (servicesDocument()) for the current version and
   * member list, compact, with Hostname; built in time slices, once per version and member
   * list, whoever connects. `id` is the hub's last event id when the build began: the document
   * reflects every change up to it, and none after. Compact JSON (no newline: one SSE data
   * line) in parts that every client writes as they are: a string per client was a copy of the
   * whole state in each socket's buffer (500 clients that did not read held 3 GB at 8,000
   * services).
   */
  async snapshot (members: () => readonly ClusterMember[], lastId: () => number): Promise<{ parts: readonly Buffer[], id: number }> {
    return await this.#snapshot.get(
      () => {
        const list = members()
        return { version: this.#catalog.version, members: list, membersKey: JSON.stringify(list) }
      },
      async k => {
        const id = lastId()
        const doc = servicesDocument(this.#catalog, k.members, { Hostname: this.#catalog.hostname }, this.#grouped())
        return { parts: await jsonParts(doc, { indent: 0 }), id }
      })
  }

  /** catalog.byService() of the current version, grouped and sorted once per version. */
  #grouped (): Record<string, Service[]> {
    const version = this.#catalog.version
    if (this.#grouping?.version !== version) this.#grouping = { version, grouped: this.#catalog.byService() }
    return this.#grouping.grouped
  }
}
