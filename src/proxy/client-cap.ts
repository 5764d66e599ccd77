// One cap on the client connections of all listeners together ([proxy] max_total_connections),
// besides each listener's own (max_connections): a client that opens connections to many
// service ports must not take the descriptors the daemon's health checks and gossip need
// (lib/open-files.ts). A connection over the cap is closed at accept, before anything is read.

export class ClientCap {
  readonly limit: number
  #open = 0

  constructor (limit: number) { this.limit = limit }

  /** Client connections open now, on all listeners. */
  get open (): number { return this.#open }

  /** Takes a place for a new connection; false, taking nothing, when all are taken. The caller release()s it when the connection closes. */
  take (): boolean {
    if (this.#open >= this.limit) return false
    this.#open++
    return true
  }

  release (): void { this.#open-- }
}
