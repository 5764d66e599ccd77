// A cluster member in a child process whose records flap on command (flap-peer-main.ts):
// thousands of status changes, each signed by the member itself, for storm tests.
import { once } from 'node:events'
import { BulkPeerProcess, spawnReady, type BulkPeerOptions } from './bulk-peer.ts'

/** alive / unhealthy: every record; mixed: every third record (by ID order) UNHEALTHY, the rest ALIVE. */
export type FlapPattern = 'alive' | 'unhealthy' | 'mixed'

export class FlapPeerProcess extends BulkPeerProcess {
  /** nice: its CPU niceness, so that on a shared machine it stands for another host. */
  static override async start (opts: BulkPeerOptions & { nice?: number }, timeoutMs = 60_000): Promise<FlapPeerProcess> {
    const { nice, ...peer } = opts
    return new FlapPeerProcess(await spawnReady('flap-peer-main.ts', [JSON.stringify(peer)], `flap peer ${opts.hostname}`, timeoutMs, nice))
  }

  /** Sets every record's status by the pattern (each change a new signed version); how many changed. */
  async set (pattern: FlapPattern, timeoutMs = 10_000): Promise<number> {
    const answer = once(this.child, 'message', { signal: AbortSignal.timeout(timeoutMs) })
    this.child.send({ op: 'set', pattern })
    const [m] = await answer as [{ op: string, changed: number }]
    return m.changed
  }
}
