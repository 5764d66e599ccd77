// A unix socket in front of the test Docker that notes the request line of every request the
// daemon sends through it (bytes pass unchanged both ways), for tests that check how often
// the daemon asks Docker for something.
import { mkdtemp, rm } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'

const REQUEST_LINE = /^[A-Z]+ (\S+) HTTP\/1\.[01]$/

export class DockerTap {
  readonly url: string
  /** Request targets in arrival order ("/v1.41/containers/<id>/json"). */
  readonly requests: string[] = []
  readonly #server: net.Server
  readonly #dir: string
  readonly #sockets = new Set<net.Socket>()

  private constructor (server: net.Server, dir: string, socket: string) {
    this.#server = server; this.#dir = dir; this.url = `unix://${socket}`
  }

  /** Listens on a new socket and forwards each connection to the Docker socket upstream. */
  static async start (upstream: string): Promise<DockerTap> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'sctap-'))
    const socket = path.join(dir, 'docker.sock')
    const server = net.createServer()
    const tap = new DockerTap(server, dir, socket)
    server.on('connection', (client) => { tap.#pipe(client, upstream) })
    await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(socket, resolve) })
    return tap
  }

  /** How many requests so far had a target matching re. */
  count (re: RegExp): number {
    return this.requests.filter(r => re.test(r)).length
  }

  async close (): Promise<void> {
    for (const s of this.#sockets) s.destroy()
    await new Promise<void>((resolve) => { this.#server.close(() => { resolve() }) })
    await rm(this.#dir, { recursive: true, force: true })
  }

  #pipe (client: net.Socket, upstream: string): void {
    const server = net.connect(upstream)
    this.#sockets.add(client).add(server)
    let partial = ''
    client.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString('latin1')).split('\r\n')
      partial = (lines.pop() ?? '').slice(-8192)
      for (const line of lines) {
        const m = REQUEST_LINE.exec(line)
        if (m !== null) this.requests.push(m[1])
      }
    })
    client.pipe(server).pipe(client)
    const close = (): void => { client.destroy(); server.destroy(); this.#sockets.delete(client); this.#sockets.delete(server) }
    client.on('error', close).on('close', close)
    server.on('error', close).on('close', close)
  }
}
