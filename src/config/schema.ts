// The configuration schema: for every key, its type, its one-line meaning, its environment
// variable and (for some) its command-line flag. The single source for validation, --help,
// and the tests that check sidecar.example.toml and docs/configuration.md are complete.
import {
  checkClusterName, checkDockerUrl, checkEndpoint, checkHostname, checkHttpUrl, checkIp, checkRegExp,
  checkSeed, checkSite, type Check,
} from './checks.ts'
import type { SidecarConfig } from './types.ts'

export type SectionName = keyof SidecarConfig

export type ValueType =
  | 'string' // any string; '' only when emptyOk
  | 'path' // a file or directory; relative paths resolve against the file that set them, else cwd
  | 'list' // array of strings (env/flags: split on commas or whitespace)
  | 'int' // integer within min..max
  | 'duration' // "20s", "200ms", "1m30s" -> milliseconds, > 0 and <= MAX_TIMER_MS
  | 'ip' // an IPv4 or IPv6 address; '' only when emptyOk
  | 'enum' // one of values (case-insensitive, stored lowercase)
  | 'bool' // true/false (env/flags also 1/0, yes/no)

export interface FlagSpec {
  long: string
  short?: string
  /** Placeholder for the value in --help. */
  arg: string
  /** Repeatable; the values given replace the whole list. */
  multiple?: boolean
}

export interface KeySpec {
  type: ValueType
  /** One line: what the key does. */
  doc: string
  min?: number
  max?: number
  /** For enum, and for lists whose items are an enum. */
  values?: readonly string[]
  /** '' is accepted (for strings, paths, ips); for most such keys it means "resolve at start-up". */
  emptyOk?: boolean
  /** Extra check of a string value, or of each list item. */
  check?: Check
  /** The environment variable, when it is not <PREFIX>_<KEY>. */
  env?: string
  flag?: FlagSpec
  /** How the default reads in --help and docs, when it is resolved at start-up. */
  defaultText?: string
}

export type Schema = { readonly [S in SectionName]: { readonly [K in keyof SidecarConfig[S]]: KeySpec } }

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const
export const DISCOVERY_KINDS = ['static', 'docker'] as const
const PORT = { type: 'int', min: 1, max: 65535 } as const

export const SCHEMA: Schema = {
  sidecar: {
    hostname: { type: 'string', emptyOk: true, check: checkHostname, doc: 'name this host announces its services under', defaultText: 'the OS hostname', flag: { long: 'hostname', arg: 'NAME' } },
    cluster_name: { type: 'string', check: checkClusterName, doc: 'cluster to join; nodes only gossip with nodes of the same cluster name', flag: { long: 'cluster-name', short: 'n', arg: 'NAME' } },
    seeds: { type: 'list', check: checkSeed, doc: 'nodes to join at start-up, "host" or "host:port" (port defaults to bind_port)', flag: { long: 'cluster-ip', short: 'c', arg: 'HOST[:PORT]', multiple: true } },
    advertise_ip: { type: 'ip', emptyOk: true, doc: 'IP address published to peers for this host and its services', defaultText: 'first private IPv4 not in exclude_ips, else 127.0.0.1', flag: { long: 'advertise-ip', short: 'a', arg: 'IP' } },
    exclude_ips: { type: 'list', check: checkIp, doc: 'addresses never chosen as the advertised IP' },
    bind_ip: { type: 'ip', doc: 'address the gossip listener binds, and the API and proxies unless their sections say otherwise', flag: { long: 'bind-ip', arg: 'IP' } },
    bind_port: { ...PORT, doc: 'gossip port (TCP), also the port assumed for seeds given without one', flag: { long: 'bind-port', arg: 'PORT' } },
    discovery: { type: 'list', values: DISCOVERY_KINDS, doc: 'discovery backends to run: static, docker', flag: { long: 'discover', short: 'd', arg: 'KIND', multiple: true } },
    logging_level: { type: 'enum', values: LOG_LEVELS, doc: 'least severe log level written: debug, info, warn, error', flag: { long: 'logging-level', short: 'l', arg: 'LEVEL' } },
    logging_format: { type: 'enum', values: ['text', 'json'], doc: 'log line format: text (human) or json (one object per line)' },
    default_check_endpoint: { type: 'string', emptyOk: true, check: checkEndpoint, doc: 'HTTP path checked on the first TCP port of services that declare no check ("" means "/")' },
    push_pull_interval: { type: 'duration', doc: 'how often full state is exchanged with a random peer (anti-entropy)' },
    alive_lifespan: { type: 'duration', doc: 'a record not refreshed for this long is presumed dead and tombstoned' },
    draining_lifespan: { type: 'duration', doc: 'how long a DRAINING record lives without refresh' },
    tombstone_lifespan: { type: 'duration', doc: 'how long tombstones are kept (and how old a record may be and still be accepted)' },
    reap_interval: { type: 'duration', doc: 'how often expired records are tombstoned and old tombstones removed' },
    data_dir: { type: 'path', emptyOk: true, doc: 'directory for state kept across restarts (e.g. the node identity)', defaultText: '~/.sidecar/<hostname>' },
    cluster_key: { type: 'string', emptyOk: true, doc: 'shared secret all nodes of the cluster must hold ("" = none; isolation by cluster_name only)' },
    site: { type: 'string', emptyOk: true, check: checkSite, doc: 'site (datacenter, zone) label attached to this host\'s services ("" = none)' },
    departure_grace: { type: 'duration', doc: 'a peer whose connections closed (or stopped answering pings) and that is not back within this is departed: its services are tombstoned' },
    quic: { type: 'bool', doc: 'also gossip over QUIC (UDP) on bind_port, where the platform supports it; always off when cluster_key is set' },
  },
  api: {
    bind_ip: { type: 'ip', emptyOk: true, doc: 'address the HTTP API and UI bind', defaultText: '[sidecar] bind_ip' },
    port: { ...PORT, doc: 'HTTP API and UI port', flag: { long: 'http-port', arg: 'PORT' } },
  },
  static_discovery: {
    config_file: { type: 'path', doc: 'JSON file listing statically defined services', env: 'STATIC_CONFIG_FILE' },
  },
  docker_discovery: {
    docker_url: { type: 'string', check: checkDockerUrl, doc: 'Docker daemon endpoint (unix:// socket, tcp:// or http(s)://)', env: 'DOCKER_URL' },
  },
  services: {
    namer: { type: 'enum', values: ['docker_label', 'regex'], doc: 'how a container\'s service name is found: docker_label or regex' },
    name_label: { type: 'string', doc: 'container label holding the service name (docker_label namer)' },
    name_match: { type: 'string', emptyOk: true, check: checkRegExp, doc: 'regular expression on the container name, group 1 is the service name (regex namer; required then)' },
  },
  health: {
    interval: { type: 'duration', doc: 'time between two health checks of a service' },
    timeout: { type: 'duration', doc: 'a check not finished after this long fails (at most interval)' },
    rise: { type: 'int', min: 1, max: 100, doc: 'consecutive passing checks before an unhealthy service is ALIVE again' },
    fall: { type: 'int', min: 1, max: 100, doc: 'consecutive failing checks before an ALIVE service is UNHEALTHY' },
  },
  proxy: {
    bind_ip: { type: 'ip', emptyOk: true, doc: 'address the service proxies bind', defaultText: '[sidecar] bind_ip' },
  },
  listeners: {
    urls: { type: 'list', check: checkHttpUrl, doc: 'http(s) URLs that receive a POST for every state change' },
  },
}

/** Prefix of each section's environment variables: <PREFIX>_<KEY>. */
export const ENV_PREFIX: Readonly<Record<SectionName, string>> = {
  sidecar: 'SIDECAR',
  api: 'API',
  static_discovery: 'STATIC',
  docker_discovery: 'DOCKER',
  services: 'SERVICES',
  health: 'HEALTH',
  proxy: 'PROXY',
  listeners: 'LISTENERS',
}

/** The variable naming the config file (not a schema key: it chooses the file). */
export const CONFIG_FILE_ENV = 'SIDECAR_CONFIG_FILE'

export const SECTIONS = Object.keys(SCHEMA) as SectionName[]

/** Keys of a section, in schema (and file) order. */
export function keysOf (section: SectionName): string[] {
  return Object.keys(SCHEMA[section])
}

export function specOf (section: SectionName, key: string): KeySpec {
  return (SCHEMA[section] as Record<string, KeySpec>)[key]
}

export function isSection (name: string): name is SectionName {
  return Object.hasOwn(SCHEMA, name)
}

export function isKey (section: SectionName, key: string): boolean {
  return Object.hasOwn(SCHEMA[section], key)
}

export function envName (section: SectionName, key: string): string {
  return specOf(section, key).env ?? `${ENV_PREFIX[section]}_${key.toUpperCase()}`
}

/** Every (section, key) pair in schema order. */
export function allKeys (): Array<[SectionName, string]> {
  return SECTIONS.flatMap((s) => keysOf(s).map((k): [SectionName, string] => [s, k]))
}
