// The documents that stream clients' sockets still hold unsent. A /watch document or an SSE
// snapshot is written by reference, the same Buffers for every client of one catalog version
// (views.ts), so clients that do not read cost nothing more than the document, while they all
// got it at one version. Each client that connects after a change, and stops reading, holds
// the document of its own version instead: 24 such clients at a 5.7 MB snapshot held 119 MB
// more (512 of them, the most [api] max_stream_clients allows, 2.5-3 GB), and a client
// without the token can make the changes itself with drain and undrain. Here the documents
// held by clients that have not taken them stay within MAX_HELD_BYTES together (the newest
// always kept); past that, the clients still holding the oldest are cut off (they read
// nothing, so no final event could reach them) and reconnect when they read again. A bound in
// bytes, not documents: a small cluster's documents (tens of kB) never come near it, however
// many slow clients sit at different versions; at 10,000 services (5-6 MB) it is 5-6 of them.
// The one-shot answers (/services.json, explain, /metrics, ...) count here too (held-answers.ts):
// a GET whose client does not read holds its whole document the same way.

/** A client (of a stream, or of one answer) as this registry sees it. */
export interface DocumentHolder {
  /** Whether its socket still holds bytes it has not sent (its document, or what followed). */
  pending: () => boolean
  /** Ends the connection at once, dropping what it holds. */
  cut: (reason: string) => void
}

/** Bytes of documents held at most, the newest included unless it alone is larger: 32 MiB, whatever the clients do. */
export const MAX_HELD_BYTES = 32 * 2 ** 20

export class HeldDocuments {
  readonly #maxBytes: number
  /** By document, oldest first (a Map keeps the order of insertion), with its size. */
  readonly #holders = new Map<readonly Buffer[], { holders: Set<DocumentHolder>, bytes: number }>()
  readonly #held = new Map<DocumentHolder, readonly Buffer[]>()
  /** Of the documents held, together. */
  #bytes = 0

  constructor (maxBytes = MAX_HELD_BYTES) {
    this.#maxBytes = maxBytes
  }

  /** `holder` has just written `doc` to its socket. Cuts off the holders of the oldest documents when too many are held. */
  hold (doc: readonly Buffer[], holder: DocumentHolder): void {
    this.release(holder)
    let entry = this.#holders.get(doc)
    if (entry === undefined) {
      // a new document (once per catalog version at most): let go of those already sent, which
      // this registry would otherwise keep from the collector (an SSE client holds its snapshot
      // here for as long as it is connected, which for a UI page is days)
      this.#sweep()
      let bytes = 0
      for (const part of doc) bytes += part.length
      this.#holders.set(doc, entry = { holders: new Set(), bytes })
      this.#bytes += bytes
      // only a new document adds bytes
      if (this.#bytes > this.#maxBytes) this.#trim(doc)
    }
    entry.holders.add(holder)
    this.#held.set(holder, doc)
  }

  /** `holder` is gone, or holds another document now. */
  release (holder: DocumentHolder): void {
    const doc = this.#held.get(holder)
    if (doc === undefined) return
    this.#held.delete(holder)
    const entry = this.#holders.get(doc)
    if (entry === undefined) return
    entry.holders.delete(holder)
    if (entry.holders.size > 0) return
    this.#holders.delete(doc)
    this.#bytes -= entry.bytes
  }

  /** How many documents clients hold now (tests). */
  get size (): number { return this.#holders.size }

  /** Their bytes together (tests). */
  get bytes (): number { return this.#bytes }

  /** Holders whose sockets sent their document hold nothing any more. */
  #sweep (): void {
    for (const [holder] of this.#held) if (!holder.pending()) this.release(holder)
  }

  /** Called by hold() only after a new document, so right after a #sweep(): every holder left still holds its document. */
  #trim (newest: readonly Buffer[]): void {
    for (const [doc, { holders }] of this.#holders) {
      if (this.#bytes <= this.#maxBytes) return
      if (doc === newest) continue
      const reason = `it had not taken its document while newer ones, ${Math.round(this.#maxBytes / 2 ** 20)} MB together, were held for other clients that did not read either`
      for (const holder of [...holders]) {
        this.release(holder)
        holder.cut(reason)
      }
    }
  }
}
