// What discovery needs to know about one container, read from Docker's inspect answer
// (GET /containers/{id}/json). Pure: no I/O; unit tests feed it recorded answers.
import type Docker from 'dockerode'

export type DockerHealth = 'starting' | 'healthy' | 'unhealthy'

/** One published port binding: container port -> host IP:port. */
export interface PublishedPort {
  readonly containerPort: number
  /** "tcp", "udp" or "sctp". */
  readonly type: string
  /** As Docker reports it: "" or "0.0.0.0" or "::" mean every address. */
  readonly hostIp: string
  readonly hostPort: number
}

export interface ContainerView {
  /** The full 64-hex id. */
  readonly id: string
  /** Docker's name with its leading "/" ("/web-1"), as the original's namer saw it. */
  readonly name: string
  /** The image as the container was created from it ("nginx:1.27"). */
  readonly image: string
  /** RFC 3339 with nanoseconds, as Docker gives it. */
  readonly created: string
  readonly labels: Readonly<Record<string, string>>
  /** Only ports bound to a host port; exposed-only ports are left out. */
  readonly ports: readonly PublishedPort[]
  /** True when the container (or its image) defines a HEALTHCHECK that is not NONE. */
  readonly hasHealthcheck: boolean
  /** Docker's health state; undefined without a HEALTHCHECK. */
  readonly health?: DockerHealth
  /** Output of the last health probe, trimmed (why Docker thinks it is unhealthy). */
  readonly healthOutput?: string
  /** Running and not paused: only such containers are discovered. */
  readonly serving: boolean
}

const MAX_OUTPUT = 200 // characters of probe output kept for the error message

export function isDockerHealth (s: unknown): s is DockerHealth {
  return s === 'starting' || s === 'healthy' || s === 'unhealthy'
}

/** Parses "80/tcp" (the protocol defaults to tcp, as in Docker). */
export function parsePortKey (key: string): { port: number, type: string } | undefined {
  const m = /^(\d{1,5})(?:\/([a-z]+))?$/.exec(key)
  if (m === null) return undefined
  const port = Number(m[1])
  return port >= 1 && port <= 65535 ? { port, type: m[2] ?? 'tcp' } : undefined
}

function publishedPorts (ports: Docker.ContainerInspectInfo['NetworkSettings']['Ports'] | null | undefined): PublishedPort[] {
  const out: PublishedPort[] = []
  for (const [key, bindings] of Object.entries(ports ?? {})) {
    const parsed = parsePortKey(key)
    if (parsed === undefined) continue
    for (const b of (bindings as Array<{ HostIp?: string, HostPort?: string }> | null) ?? []) {
      const hostPort = Number(b.HostPort)
      if (!Number.isInteger(hostPort) || hostPort < 1 || hostPort > 65535) continue
      out.push({ containerPort: parsed.port, type: parsed.type, hostIp: b.HostIp ?? '', hostPort })
    }
  }
  return out
}

/** The view of an inspect answer. */
export function fromInspect (info: Docker.ContainerInspectInfo): ContainerView {
  const test = info.Config?.Healthcheck?.Test ?? []
  const hasHealthcheck = test.length > 0 && test[0] !== 'NONE'
  const state = info.State
  const healthState = state?.Health as { Status?: string, Log?: Array<{ Output?: string }> } | undefined
  const health = isDockerHealth(healthState?.Status) ? healthState.Status : undefined
  const lastOutput = healthState?.Log?.at(-1)?.Output?.trim()
  return {
    id: info.Id,
    name: info.Name,
    image: info.Config?.Image ?? info.Image,
    created: info.Created,
    labels: info.Config?.Labels ?? {},
    ports: publishedPorts(info.NetworkSettings?.Ports),
    hasHealthcheck,
    ...(health !== undefined ? { health } : {}),
    ...(lastOutput !== undefined && lastOutput !== '' ? { healthOutput: lastOutput.slice(0, MAX_OUTPUT) } : {}),
    serving: state?.Running === true && state.Paused !== true && state.Restarting !== true,
  }
}

/**
 * A container's own name in a list answer ("/web-1"): Names also holds "/linker/alias" for
 * each legacy link to it, in Docker's name order, so the own name need not come first.
 * Container names cannot hold "/": the own name is the one with no other "/" than the first.
 */
export function ownName (names: readonly string[] | null | undefined): string | undefined {
  return names?.find(n => n.lastIndexOf('/') === 0)
}

/** The health named by an event action ("health_status: healthy"), if any. */
export function healthOfAction (action: string): DockerHealth | undefined {
  const m = /^health_status:\s*(\S+)$/.exec(action)
  return m !== null && isDockerHealth(m[1]) ? m[1] : undefined
}
