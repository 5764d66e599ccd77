// Hostile gossip input from a fixed seed: malformed envelopes and JSON, and well-formed
// records that the admission gate must refuse (forged hostnames, altered or foreign proofs,
// observer claims, clock and Created tricks, foreign backend IPs). Every generated item says
// how many records the gate must judge (0 when the whole message must be rejected).
import { randomBytes as nodeRandomBytes } from 'node:crypto'
import { makeService, ServiceStatus, Time, type Service } from '../../src/service/index.ts'
import type { Proof, SealedRecord } from '../../src/gossip/proof.ts'
import { KIND, WIRE_VERSION, encodeRecords } from '../../src/gossip/wire.ts'
import { prng } from './prng.ts'


export interface FuzzContext {
  /** The rogue's own hostname and IP (a member). */
  rogueHost: string
  rogueIp: string
  /** A live member's hostname that the rogue targets. */
  victimHost: string
  victimIds: readonly string[]
  sign: (svc: Service, observer?: boolean) => SealedRecord
}

export interface FuzzItem {
  /** The bytes of a gossip message or anti-entropy frame (without kind when raw). */
  records?: SealedRecord[] | Array<Record<string, unknown>>
  raw?: Uint8Array
  /** Records the gate judges (and must refuse): 0 for a message rejected as a whole. */
  hostile: number
}

export class GossipFuzzer {
  readonly #r: () => number
  readonly #c: FuzzContext
  #n = 0

  constructor (seed: number, ctx: FuzzContext) {
    this.#r = prng(seed)
    this.#c = ctx
  }

  #int (n: number): number { return Math.floor(this.#r() * n) }
  #pick<T> (xs: readonly T[]): T { return xs[this.#int(xs.length)] }
  #bytes (n: number): Uint8Array {
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i++) out[i] = this.#int(256)
    return out
  }

  /** A record that would pass if it were the rogue's own, honest one; unique per call. */
  #base (f: Partial<Service> = {}): Service {
    const id = `fz${(this.#n++).toString(36)}`
    return makeService({
      ID: id, Name: this.#pick(['web', 'api', 'db', '__proto__', 'constructor', 'x'.repeat(200), 'ü❤']), Image: 'img:1', Hostname: this.#c.rogueHost,
      Created: Time.fromMillis(Date.now() - this.#int(1e9)), Updated: Time.fromMillis(Date.now()), Status: ServiceStatus.ALIVE, ProxyMode: this.#pick(['http', 'tcp', 'ws', '']),
      Ports: [{ Type: 'tcp', Port: 1 + this.#int(65535), ServicePort: this.#int(65536), IP: this.#c.rogueIp }], ...f,
    })
  }

  /** One hostile, well-formed record (signed or not) that the gate must refuse. */
  hostileRecord (): SealedRecord {
    const c = this.#c
    const now = Date.now()
    switch (this.#int(12)) {
      case 0: return c.sign(this.#base({ Hostname: c.victimHost })) // another host's record under our key
      // the victim's own records are refreshed while an exchange runs: a forged version must stay newer than the one it attacks
      // for the protocol to push it (the gate judges it), so these are stamped well ahead of any refresh an exchange can see
      case 1: return c.sign(this.#base({ Hostname: c.victimHost, ID: this.#pick(c.victimIds), Status: ServiceStatus.TOMBSTONE, Updated: Time.fromMillis(now + 60_000 + this.#int(180_000)) }))
      case 2: return c.sign(this.#base({ Hostname: c.victimHost, ID: this.#pick(c.victimIds), Status: ServiceStatus.TOMBSTONE, Updated: Time.fromMillis(now + 15_000) }), true) // observer, host alive
      case 3: return c.sign(this.#base({ Hostname: `ghost${this.#int(1000)}` }), this.#r() < 0.5)
      case 4: return c.sign(this.#base({ Status: this.#pick([ServiceStatus.ALIVE, ServiceStatus.DRAINING, ServiceStatus.UNHEALTHY]) }), true) // observer of a live record
      case 5: return c.sign(this.#base({ Updated: Time.fromMillis(now + 90_000 + this.#int(150_000)) })) // far enough ahead to stay refused after queueing
      case 6: return c.sign(this.#base({ Created: this.#pick([Time.parse('0001-01-01T00:00:00Z'), Time.EPOCH, Time.parse('2012-12-31T23:59:59Z'), Time.fromMillis(now + 120_000)]) }))
      case 7: return c.sign(this.#base({ Ports: [{ Type: 'tcp', Port: 80, ServicePort: 18998, IP: this.#pick(['127.0.8.250', '10.0.0.1', '169.254.169.254', '0.0.0.0', '::1', '', 'localhost', '127.0.11.40']) }] }))
      case 8: { // a valid proof on an altered record
        const good = c.sign(this.#base())
        return { svc: makeService({ ...good.svc, Ports: [{ Type: 'tcp', Port: 22, ServicePort: 2222, IP: c.rogueIp }] }), proof: good.proof }
      }
      case 9: { // a proof with garbage in it
        const good = c.sign(this.#base())
        const p = good.proof as Proof
        const proof: Proof = this.#pick([
          { ...p, sig: Buffer.from(nodeRandomBytes(64)).toString('base64') },
          { ...p, sig: 'AAAA' },
          { ...p, peer: 'QmNotAPeerId' },
          { ...p, peer: '12D3KooWDQbvHwT4fZ4mbGnwo74RoKAiQFH6ZaKeycPUZuVTe9nt' },
          { ...p, observer: !p.observer },
        ])
        return { svc: good.svc, proof }
      }
      case 10: return { svc: this.#base() } // no proof at all
      default: return c.sign(this.#base({ Hostname: c.rogueHost, Ports: [{ Type: 'udp', Port: 53, ServicePort: 53, IP: '8.8.8.8' }] }))
    }
  }

  /** A gossip message. */
  next (malformedShare = 0.5): FuzzItem {
    if (this.#r() >= malformedShare) {
      const n = 1 + this.#int(4)
      const records = Array.from({ length: n }, () => this.hostileRecord())
      return { raw: encodeRecords(records, KIND.records, 1 << 20)[0], hostile: n }
    }
    return { raw: this.malformed(KIND.records), hostile: 0 }
  }

  /** One of the choices, drawn from this run's sequence. */
  pick<T> (xs: readonly T[]): T { return this.#pick(xs) }

  /**
   * Bytes that are not a valid envelope of kind, or whose records do not decode. With page,
   * a record list is the Items of an anti-entropy page ({"Items": [...], "More": false}).
   */
  malformed (kind: number, page = false): Uint8Array {
    const env = (body: string, v = WIRE_VERSION, k = kind): Uint8Array => new Uint8Array([v, k, ...Buffer.from(page ? `{"Items":${body},"More":false}` : body)])
    const uniq = `"${(this.#n++).toString(36)}"`
    const rec = (f: Record<string, unknown>): string => JSON.stringify([{ ID: `m${this.#n++}`, Name: 'n', Hostname: this.#c.rogueHost, Status: 0, Updated: new Date().toISOString(), ...f }])
    switch (this.#int(14)) {
      case 0: return this.#bytes(1 + this.#int(2000))
      case 1: return env(rec({}), this.#pick([0, 1, 3, 255]))
      case 2: return env(rec({}), WIRE_VERSION, this.#pick([0, 5, 99, 255]))
      case 3: return env(rec({}).slice(0, 1 + this.#int(40)))
      case 4: return env(`{"a":${uniq}}`)
      case 5: return env(`[${uniq}]`)
      case 6: return env(rec({ Status: this.#pick([5, -1, 1.5, '0', null]) }))
      case 7: return env(rec({ Hostname: this.#pick(['', 7, null, 'x'.repeat(300)]) }))
      case 8: return env(rec({ Updated: this.#pick(['2999-01-01T00:00:00Z', 'yesterday', '2024-13-45T99:99:99Z', 1e12]) }))
      case 9: return env(rec({ Ports: this.#pick([{}, 'x', [{ Port: 70000 }], [{ Type: 'sctp' }], new Array(300).fill({})]) }))
      case 10: return env('['.repeat(500 + this.#int(2000)) + uniq + ']'.repeat(10))
      case 11: return new Uint8Array([WIRE_VERSION, kind, 0xff, 0xfe, 0x5b, ...Buffer.from(uniq), ...this.#bytes(this.#int(100))])
      case 12: return env(JSON.stringify([...new Array(2000 + this.#int(30_000)).fill(0), uniq]))
      default: return env(rec({ ID: 'x'.repeat(257 + this.#int(1000)) }))
    }
  }
}
