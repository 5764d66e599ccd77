// What the API serves, read by the heap mode (lib/heap-mode.ts) as it reads the proxy's
// counts: requests finished and in progress, and changes delivered to stream clients (each
// /watch or SSE client that a change reaches). Eight clients reading the large documents in
// a loop, or watchers of a catalog that changes, make megabytes of garbage a second, and under
// V8's optimize-for-size every full collection it needs is a memory-reducing one (15-100 ms,
// 20-40 in 5 s of such load at 10,000 services).
import type Koa from 'koa'
import type { ProxyActivity } from '../lib/heap-mode.ts'

export class ApiActivity {
  #finished = 0
  #inFlight = 0

  /** Koa middleware: counts each request while its handler runs (a stream's until it is set up). */
  middleware (): Koa.Middleware {
    return async (_ctx, next) => {
      this.#inFlight++
      try {
        await next()
      } finally {
        this.#inFlight--
        this.#finished++
      }
    }
  }

  /** deliveries: changes delivered to stream clients so far (EventHub.deliveries). */
  read (deliveries: number): ProxyActivity {
    return { finished: this.#finished + deliveries, inFlight: this.#inFlight }
  }
}
