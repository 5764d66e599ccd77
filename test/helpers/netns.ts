// A private network for fault tests: every daemon in its own network namespace, all joined
// by veth pairs to one bridge in a hub namespace, on addresses that exist only inside these
// namespaces (10.16.0.0/24). A partition is nftables drop rules inside the daemons'
// namespaces (silent drops, as a cut cable, not refused connections); a heal deletes them.
// The test reaches each daemon's API through a unix socket that a small forwarder in the
// hub namespace relays (test/helpers/netns-forward.ts): the root namespace is never touched.
// Needs root, iproute2 and nft; netnsUnavailable() names what is missing.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import http from 'node:http'
import path from 'node:path'
import { REPO } from './daemon.ts'
import { waitFor } from './wait.ts'

/** A system command by absolute path: npm puts node_modules/.bin first on PATH, where "nft" is @vercel/nft. */
function systemCommand (name: string): string | undefined {
  return ['/usr/sbin', '/sbin', '/usr/bin', '/bin'].map(d => `${d}/${name}`).find(p => existsSync(p))
}
export const IP = systemCommand('ip') ?? 'ip'
const NFT = systemCommand('nft') ?? 'nft'

/** Why namespaces cannot be made here, or undefined when they can. */
export function netnsUnavailable (): string | undefined {
  if (process.getuid?.() !== 0) return 'not root (network namespaces need CAP_NET_ADMIN)'
  for (const [cmd, pkg] of [['ip', 'iproute2'], ['nft', 'nftables']]) {
    if (systemCommand(cmd) === undefined) return `no ${cmd} command in /usr/sbin, /sbin, /usr/bin or /bin (apt-get install ${pkg})`
  }
  const probe = `sfp${process.pid}`
  const r = spawnSync(IP, ['netns', 'add', probe], { encoding: 'utf8' })
  if (r.status !== 0) return `cannot create a network namespace: ${r.stderr.trim()}`
  const nft = spawnSync(IP, ['netns', 'exec', probe, NFT, 'list', 'ruleset'], { encoding: 'utf8' })
  spawnSync(IP, ['netns', 'del', probe])
  if (nft.status !== 0) return `nft does not work in a network namespace: ${nft.stderr.trim()}`
  return undefined
}

function ip (...args: string[]): void {
  execFileSync(IP, args, { stdio: ['ignore', 'ignore', 'pipe'] })
}

/**
 * This helper's namespace names: `sf`, a tag of letters, the creating process's pid, then
 * `n` and the node (a NetLab's) or nothing (netnsUnavailable()'s probe). The pid is whole, so
 * a sweep can tell a live run's namespaces from a dead one's.
 */
const NAME = /^sf[a-z]+(\d+)(?:n(?:h|\d+))?$/

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' // exists, owned by another user
  }
}

/** The names `ip netns list` shows (none when it fails). */
export function namespaceNames (): string[] {
  const list = spawnSync(IP, ['netns', 'list'], { encoding: 'utf8' })
  if (list.status !== 0) return []
  return list.stdout.split('\n').map(l => l.trim().split(/\s+/)[0]).filter(n => n !== '')
}

/**
 * Deletes the namespaces of this helper's naming whose creating process is gone (a test
 * killed by SIGKILL skips its teardown), so they neither pile up nor collide with a later run
 * that gets the same pid. Another run's namespaces are left alone while its process lives.
 * Logs one line when it deletes any; returns the names deleted. Never throws.
 */
export function sweepStaleNamespaces (): string[] {
  const stale = namespaceNames().filter(name => {
    const m = NAME.exec(name)
    if (m === null) return false
    const pid = Number(m[1])
    return pid !== process.pid && !alive(pid)
  })
  const deleted = stale.filter(name => spawnSync(IP, ['netns', 'del', name], { stdio: 'ignore' }).status === 0)
  if (deleted.length > 0) console.log(`netns: deleted ${deleted.length} namespace(s) left by test processes no longer running: ${deleted.join(' ')}`)
  return deleted
}

/** Every lab still up, torn down if the worker exits without its teardown (an ava timeout). */
const labs = new Set<NetLab>()
process.once('exit', () => { for (const l of labs) l.destroySync() })

export class NetLab {
  /** Namespace names: `${prefix}h` (the hub) and `${prefix}${i}`. */
  readonly prefix: string
  readonly size: number
  readonly sockDir: string
  #forwarder: ChildProcess | undefined
  readonly #cut = new Set<number>()

  /** size namespaces, addresses 10.16.0.10 + i; tag (letters) keeps two test files' names apart. */
  constructor (tag: string, size: number, sockDir: string) {
    if (!/^[a-z]+$/.test(tag)) throw new Error(`netns tag ${JSON.stringify(tag)}: letters a-z only (the pid follows it in the names)`)
    this.prefix = `sf${tag}${process.pid}n`
    this.size = size
    this.sockDir = sockDir
  }

  ns (i: number): string { return `${this.prefix}${i}` }
  get hub (): string { return `${this.prefix}h` }
  addr (i: number): string { return `10.16.0.${10 + i}` }

  async create (apiPort: number): Promise<void> {
    labs.add(this)
    sweepStaleNamespaces()
    this.destroySync() // a namespace left by an earlier run of the same pid
    ip('netns', 'add', this.hub)
    ip('-n', this.hub, 'link', 'set', 'lo', 'up')
    ip('-n', this.hub, 'link', 'add', 'br0', 'type', 'bridge')
    ip('-n', this.hub, 'addr', 'add', '10.16.0.1/24', 'dev', 'br0')
    ip('-n', this.hub, 'link', 'set', 'br0', 'up')
    for (let i = 0; i < this.size; i++) {
      const ns = this.ns(i)
      ip('netns', 'add', ns)
      ip('-n', ns, 'link', 'set', 'lo', 'up')
      ip('-n', this.hub, 'link', 'add', `v${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns)
      ip('-n', this.hub, 'link', 'set', `v${i}`, 'master', 'br0', 'up')
      ip('-n', ns, 'addr', 'add', `${this.addr(i)}/24`, 'dev', 'eth0')
      ip('-n', ns, 'link', 'set', 'eth0', 'up')
    }
    await mkdir(this.sockDir, { recursive: true })
    const targets = Array.from({ length: this.size }, (_, i) => `${this.addr(i)}:${apiPort}`)
    this.#forwarder = spawn(IP, ['netns', 'exec', this.hub, process.execPath, path.join(REPO, 'test/helpers/netns-forward.ts'), this.sockDir, ...targets], { stdio: ['ignore', 'ignore', 'inherit'] })
    await waitFor(() => targets.every(t => existsSync(this.sock(t.split(':')[0]))), { timeoutMs: 10_000, message: 'the API forwarder in the hub namespace' })
  }

  sock (addr: string): string { return path.join(this.sockDir, `${addr}.sock`) }

  /** argv that runs cmd inside node i's namespace. */
  wrap (i: number, argv: string[]): string[] { return [IP, 'netns', 'exec', this.ns(i), ...argv] }

  /** Cuts every node in `side` off from every node not in it (both directions, silent drops). */
  partition (side: readonly number[]): void {
    const inSide = new Set(side)
    for (let i = 0; i < this.size; i++) {
      const others = Array.from({ length: this.size }, (_, j) => j).filter(j => inSide.has(j) !== inSide.has(i)).map(j => this.addr(j))
      if (others.length === 0) continue
      const set = `{ ${others.join(', ')} }`
      const rules = `table inet faults {\n chain in { type filter hook input priority 0; ip saddr ${set} drop; }\n chain out { type filter hook output priority 0; ip daddr ${set} drop; }\n}\n`
      execFileSync(IP, ['netns', 'exec', this.ns(i), NFT, '-f', '-'], { input: rules, stdio: ['pipe', 'ignore', 'pipe'] })
      this.#cut.add(i)
    }
  }

  /** Removes every drop rule. */
  heal (): void {
    for (const i of this.#cut) execFileSync(IP, ['netns', 'exec', this.ns(i), NFT, 'delete', 'table', 'inet', 'faults'], { stdio: ['ignore', 'ignore', 'pipe'] })
    this.#cut.clear()
  }

  destroySync (): void {
    this.#forwarder?.kill('SIGKILL')
    for (const ns of [this.hub, ...Array.from({ length: this.size }, (_, i) => this.ns(i))]) spawnSync(IP, ['netns', 'del', ns], { stdio: 'ignore' })
  }

  async destroy (): Promise<void> {
    const f = this.#forwarder
    if (f !== undefined && f.exitCode === null && f.signalCode === null) { f.kill('SIGKILL'); await once(f, 'exit') }
    this.destroySync()
    labs.delete(this)
  }
}

/** GET over a unix socket (the forwarder's), parsed as JSON. */
export async function getJson<T> (socketPath: string, p: string, timeoutMs = 5000): Promise<T> {
  return await new Promise<T>((resolve, reject) => {
    const req = http.get({ socketPath, path: p, timeout: timeoutMs }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        if (res.statusCode !== 200) { reject(new Error(`GET ${p}: HTTP ${res.statusCode}`)); return }
        try { resolve(JSON.parse(Buffer.concat(chunks).toString()) as T) } catch (err) { reject(err as Error) }
      })
      res.on('error', reject)
    })
    req.on('timeout', () => { req.destroy(new Error(`GET ${p}: no answer within ${timeoutMs} ms`)) })
    req.on('error', reject)
  })
}
