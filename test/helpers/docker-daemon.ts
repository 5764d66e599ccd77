// A sidecar daemon with Docker discovery, as the Docker integration tests run it, and the
// ways they look a container up in its API.
import { startDaemon, type DaemonProcess } from './daemon.ts'
import { waitFor } from './wait.ts'

export interface Instance { ID: string, Name: string, Image: string, Status: number, Hostname: string, ProxyMode: string, Ports: Array<{ Type: string, Port: number, ServicePort: number, IP: string }> }
export interface ServicesJson { Services: Record<string, Instance[]> }

export const STATUS = { ALIVE: 0, TOMBSTONE: 1, UNHEALTHY: 2, UNKNOWN: 3, DRAINING: 4 } as const

export const CHECK_INTERVAL_MS = 1000 // checks every second, so status changes are quick to observe

/** A daemon on ip that discovers the containers of the Docker at dockerUrl. */
export async function startDockerDaemon (opts: { ip: string, hostname: string, cwd: string, dockerUrl: string, env?: Record<string, string>, args?: string[] }): Promise<DaemonProcess> {
  return await startDaemon({
    ip: opts.ip,
    hostname: opts.hostname,
    cwd: opts.cwd,
    args: ['-d', 'docker', ...(opts.args ?? [])],
    env: { DOCKER_URL: opts.dockerUrl, HEALTH_INTERVAL: `${CHECK_INTERVAL_MS}ms`, HEALTH_TIMEOUT: '800ms', ...opts.env },
  })
}

/** The instance with this service ID, whatever its name; undefined when absent. */
export async function instance (d: DaemonProcess, id: string): Promise<Instance | undefined> {
  const doc = await d.json<ServicesJson>('/services.json')
  for (const list of Object.values(doc.Services)) {
    const found = list.find(s => s.ID === id)
    if (found !== undefined) return found
  }
  return undefined
}

/** Waits until the instance satisfies pred; returns it and how long that took. */
export async function waitForInstance (d: DaemonProcess, id: string, pred: (s: Instance) => boolean, what: string, timeoutMs = 15_000): Promise<{ svc: Instance, ms: number }> {
  const t0 = Date.now()
  let last: Instance | undefined
  const svc = await waitFor(async () => {
    last = await instance(d, id)
    return last !== undefined && pred(last) ? last : undefined
  }, { timeoutMs, intervalMs: 50, message: () => `${id} ${what}; last seen: ${JSON.stringify(last)}\n${d.output.slice(-3000)}` })
  return { svc, ms: Date.now() - t0 }
}

export function count (text: string, needle: string): number {
  return text.split(needle).length - 1
}
