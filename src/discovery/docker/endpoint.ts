// Which Docker daemon to talk to: [docker_discovery] docker_url when set, else Docker's own
// environment variables (DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH), else the
// standard local socket: the same rules as the docker CLI.
import { readFileSync } from 'node:fs'
import path from 'node:path'
import type Docker from 'dockerode'

export const DEFAULT_SOCKET = '/var/run/docker.sock'

export interface Endpoint {
  /** Options for new Docker(); they override everything docker-modem reads from the environment. */
  readonly options: Docker.DockerOptions
  /** The endpoint as people read it, for logs and errors. */
  readonly describe: string
}

/** docker-modem fills these from DOCKER_* variables; an explicit URL must win over all of them. */
const NO_ENV_DEFAULTS: Docker.DockerOptions = { socketPath: undefined, host: undefined, port: undefined, ca: undefined, cert: undefined, key: undefined, protocol: 'http', timeout: undefined }

/**
 * Reads the certificates of DOCKER_CERT_PATH for an https URL (sync: done once per
 * connection attempt). Throws when the URL is not one checkDockerUrl accepts.
 */
export function resolveEndpoint (dockerUrl: string, env: NodeJS.ProcessEnv): Endpoint {
  if (dockerUrl === '') {
    const host = env.DOCKER_HOST
    if (host === undefined || host === '') return { options: { ...NO_ENV_DEFAULTS, socketPath: DEFAULT_SOCKET }, describe: `unix://${DEFAULT_SOCKET}` }
    return { options: {}, describe: `${host} (DOCKER_HOST)` } // docker-modem applies DOCKER_HOST and its TLS variables
  }
  const u = new URL(dockerUrl)
  switch (u.protocol) {
    case 'unix:':
      return { options: { ...NO_ENV_DEFAULTS, socketPath: decodeURIComponent(u.pathname) }, describe: dockerUrl }
    case 'tcp:':
    case 'http:':
      return { options: { ...NO_ENV_DEFAULTS, host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port === '' ? 2375 : Number(u.port) }, describe: dockerUrl }
    case 'https:': {
      const certs = env.DOCKER_CERT_PATH
      const tls = certs === undefined || certs === ''
        ? {}
        : { ca: readFileSync(path.join(certs, 'ca.pem')), cert: readFileSync(path.join(certs, 'cert.pem')), key: readFileSync(path.join(certs, 'key.pem')) }
      return { options: { ...NO_ENV_DEFAULTS, ...tls, protocol: 'https', host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port === '' ? 2376 : Number(u.port) }, describe: dockerUrl }
    }
    default:
      throw new Error(`unsupported Docker endpoint ${JSON.stringify(dockerUrl)}`)
  }
}
