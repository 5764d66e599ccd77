// The documents that stream clients' sockets still hold unsent. A /watch document or an SSE
// snapshot is written by reference, the same Buffers for every client of one catalog version
// (views.ts), so clients that do not read cost nothing more than the document, while they all
// got it at one version. Each client that connects after a change, and stops reading, holds
// the document of its own version instead: 24 such clients at a 5.7 MB snapshot held 119 MB
// more (512 of them, the most [api] max_stream_clients allows, 2.5-3 GB), and a client
// without the token can make the changes itself with drain and undrain. Here at most
// MAX_HELD documents stay held by clients that have not taken them; past that, the clients
// still holding the oldest are cut off (they read nothing, so no final event could reach
// them) and reconnect when they read again.

/** A stream client as this registry sees it. */
export interface DocumentHolder {
  /** Whether its socket still holds bytes it has not sent (its document, or what followed). */
  pending: () => boolean
  /** Ends the connection at once, dropping what it holds. */
  cut: (reason: string) => void
}

/** Documents held at most, the current one included: memory stays under MAX_HELD documents, whatever the clients do. */
export const MAX_HELD = 4

export class HeldDocuments {
  readonly #max: number
  /** By document, oldest first (a Map keeps the order of insertion). */
  readonly #holders = new Map<readonly Buffer[], Set<DocumentHolder>>()
  readonly #held = new Map<DocumentHolder, readonly Buffer[]>()

  constructor (max = MAX_HELD) {
    this.#max = max
  }

  /** `holder` has just written `doc` to its socket. Cuts off the holders of the oldest documents when too many are held. */
  hold (doc: readonly Buffer[], holder: DocumentHolder): void {
    this.release(holder)
    let holders = this.#holders.get(doc)
    if (holders === undefined) this.#holders.set(doc, holders = new Set())
    holders.add(holder)
    this.#held.set(holder, doc)
    if (this.#holders.size > this.#max) this.#trim(doc)
  }

  /** `holder` is gone, or holds another document now. */
  release (holder: DocumentHolder): void {
    const doc = this.#held.get(holder)
    if (doc === undefined) return
    this.#held.delete(holder)
    const holders = this.#holders.get(doc)
    holders?.delete(holder)
    if (holders?.size === 0) this.#holders.delete(doc)
  }

  /** How many documents clients hold now (tests). */
  get size (): number { return this.#holders.size }

  #trim (newest: readonly Buffer[]): void {
    // holders whose sockets sent their document hold nothing any more
    for (const [holder] of this.#held) if (!holder.pending()) this.release(holder)
    for (const [doc, holders] of this.#holders) {
      if (this.#holders.size <= this.#max) return
      if (doc === newest) continue
      const reason = `it had not taken a document of the catalog while ${this.#max} newer ones were held for other clients that did not read either`
      for (const holder of [...holders]) {
        this.release(holder)
        holder.cut(reason)
      }
    }
  }
}
