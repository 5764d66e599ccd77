// The configuration schema: for every key, its type, its one-line meaning, its environment
// variable and (for some) its command-line flag. The single source for validation, --help,
// and the tests that check sidecar.example.toml and docs/configuration.md are complete.
import {
  checkCidr, checkClusterName, checkPortRange, checkDockerUrl, checkEndpoint, checkHostname, checkHttpUrl, checkIp, checkNamePattern,
  checkAllowedHost, checkFrameOrigin, checkSeed, checkSite, type Check,
} from './checks.ts'
import { WEBHOOK_DEFAULTS, type RawValue } from './defaults.ts'
import type { SidecarConfig } from './types.ts'

export type SectionName = keyof SidecarConfig

export type ValueType =
  | 'string' // any string; '' only when emptyOk
  | 'path' // a file or directory; relative paths resolve against the file that set them, else cwd
  | 'list' // array of strings (env/flags: split on commas or whitespace)
  | 'int' // integer within min..max
  | 'number' // a decimal number within min..max (TOML: an integer or a float)
  | 'duration' // "20s", "200ms", "1m30s" -> milliseconds, > 0 and <= MAX_TIMER_MS
  | 'ip' // an IPv4 or IPv6 address; '' only when emptyOk
  | 'enum' // one of values (case-insensitive, stored lowercase)
  | 'bool' // true/false (env/flags also 1/0, yes/no)
  | 'tables' // TOML array of tables ([[section.key]] blocks); env: a JSON array of objects; each field per `fields`

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
  /** For durations: "0" is accepted (and means "off"). */
  zeroOk?: boolean
  /** The environment variable, when it is not <PREFIX>_<KEY>. */
  env?: string
  flag?: FlagSpec
  /** How the default reads in --help and docs, when it is resolved at start-up. */
  defaultText?: string
  /** For tables: the keys of each table. */
  fields?: Readonly<Record<string, FieldSpec>>
  /** For tables: values of the fields a table leaves out (defaults.ts, with reasons). */
  fieldDefaults?: Readonly<Record<string, RawValue>>
}

/** A key of each table of a 'tables' value. */
export interface FieldSpec extends KeySpec {
  /** The table must set it (else its default from fieldDefaults applies). */
  required?: boolean
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
    logging_format: { type: 'enum', values: ['text', 'json'], doc: 'log line format: text (human) or json (one object per line: `time`, `level` by name as the original\'s, `msg`)' },
    default_check_endpoint: { type: 'string', emptyOk: true, check: checkEndpoint, doc: 'HTTP path checked on the first TCP port of services that declare no check ("" means "/")' },
    push_pull_interval: { type: 'duration', doc: 'how often state is compared and repaired with a random peer (anti-entropy: digests first, then only what differs)' },
    alive_lifespan: { type: 'duration', doc: 'a record not refreshed for this long is presumed dead and tombstoned' },
    draining_lifespan: { type: 'duration', doc: 'how long a DRAINING record lives without refresh' },
    tombstone_lifespan: { type: 'duration', doc: 'how old a record may be and still be accepted, plus 1 min for clock drift; tombstones are kept as long, so nothing they replaced comes back' },
    reap_interval: { type: 'duration', doc: 'how often expired records are tombstoned and old tombstones removed' },
    data_dir: { type: 'path', emptyOk: true, doc: 'directory for state kept across restarts (the node identity, host pins, drains)', defaultText: '~/.sidecar/<hostname>' },
    cluster_key: { type: 'string', emptyOk: true, doc: 'shared secret all nodes of the cluster must hold ("" = none; isolation by cluster_name only)' },
    site: { type: 'string', emptyOk: true, check: checkSite, doc: 'site (datacenter, zone) label attached to this host\'s services ("" = none)' },
    departure_grace: { type: 'duration', doc: 'a peer whose connections closed (or stopped answering pings) and that is not back within this is departed: its services are tombstoned' },
    quic: { type: 'bool', doc: 'also gossip over QUIC (UDP) on bind_port, where the platform supports it; always off when cluster_key is set' },
    max_records_per_host: { type: 'int', min: 1, max: 1_000_000, doc: 'records accepted from one other host at most, and from all hostnames no peer proved to this node together (tombstones); a new record beyond it takes the place of its host\'s oldest tombstone, else it is refused and counted' },
    max_records: { type: 'int', min: 1, max: 10_000_000, doc: 'records of members held in total at most (tombstones of hostnames no peer proved here may add max_records_per_host); more new records from peers are refused and counted' },
    backend_cidrs: { type: 'list', check: checkCidr, doc: 'CIDRs another host\'s services may point at besides that host\'s own address (e.g. container networks); loopback never' },
  },
  api: {
    bind_ip: { type: 'ip', emptyOk: true, doc: 'address the HTTP API and UI bind', defaultText: '[sidecar] bind_ip' },
    port: { ...PORT, doc: 'HTTP API and UI port', flag: { long: 'http-port', arg: 'PORT' } },
    event_buffer: { type: 'int', min: 1, max: 1_000_000, doc: 'change events kept so an SSE client can resume with Last-Event-ID (older gaps get a fresh snapshot)' },
    stream_queue_bytes: { type: 'int', min: 65_536, max: 1_073_741_824, doc: 'bytes of events an SSE client may have waiting before it is dropped as too slow' },
    heartbeat_interval: { type: 'duration', doc: 'time between heartbeats (and cluster member updates) on SSE streams' },
    token: { type: 'string', emptyOk: true, doc: 'bearer token the write endpoints (drain, undrain) require ("" = none; cross-origin browser writes are refused either way)' },
    max_connections: { type: 'int', min: 0, max: 1_000_000, doc: 'client connections the API holds open at once; more are closed at accept and counted ("0" = an eighth of the open-file limit, at most 4096)', defaultText: '0 (an eighth of the open-file limit, at most 4096)' },
    max_stream_clients: { type: 'int', min: 1, max: 100_000, doc: 'concurrent /watch and SSE clients; more are refused with 503' },
    allowed_hosts: { type: 'list', check: checkAllowedHost, doc: 'host names the API answers browsers at besides IP addresses, localhost and this host\'s names (`.example.com`: that name and every name under it; `*.example.com`: only those under it): at other names a browser gets only the public catalog documents and streams, and without a token no write (DNS-rebinding defence; scrapers and scripts are not judged)' },
    frame_ancestors: { type: 'list', check: checkFrameOrigin, doc: 'origins (scheme://host[:port]) whose pages may show the UI in a frame, such as a dashboard; none by default (a framing page could steer clicks onto the drain buttons)' },
    gc_metrics: { type: 'bool', doc: 'add sidecar_nodejs_gc_duration_seconds (each garbage collection\'s pause) to /metrics; it makes the proxy\'s slowest requests slower' },
  },
  static_discovery: {
    config_file: { type: 'path', doc: 'JSON file listing statically defined services', env: 'STATIC_CONFIG_FILE' },
  },
  docker_discovery: {
    docker_url: { type: 'string', emptyOk: true, check: checkDockerUrl, doc: 'Docker daemon endpoint (unix:// socket, tcp:// or http(s)://); "" = DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH when set, else unix:///var/run/docker.sock', env: 'DOCKER_URL', defaultText: 'DOCKER_HOST if set, else unix:///var/run/docker.sock' },
    reconcile_interval: { type: 'duration', doc: 'time between two full lists of the running containers, which repair any missed Docker event' },
    allow_external_checks: { type: 'bool', doc: 'honour HealthCheck=External labels, running the command inside the container (docker exec); off: such services fail their check' },
    check_any_target: { type: 'bool', doc: 'let HttpGet and TcpConnect labels (and their redirects) reach any address; off: only the container\'s published TCP ports (at their bound address; one bound to every address of a family also at the advertise IP and on loopback of that family), other targets fail their check' },
  },
  services: {
    namer: { type: 'enum', values: ['docker_label', 'regex'], doc: 'how a container\'s service name is found: docker_label or regex' },
    name_label: { type: 'string', doc: 'container label holding the service name (docker_label namer)' },
    name_match: { type: 'string', emptyOk: true, check: checkNamePattern, doc: 'regular expression (RE2 syntax, as Go\'s regexp) searched in the container name with its leading "/", group 1 is the service name (regex namer; required then)' },
  },
  health: {
    interval: { type: 'duration', doc: 'time between two health checks of a service' },
    timeout: { type: 'duration', doc: 'a check not finished after this long fails (at most interval)', defaultText: '2s, or interval when that is shorter' },
    rise: { type: 'int', min: 1, max: 100, doc: 'consecutive passing checks before an unhealthy service is ALIVE again' },
    fall: { type: 'int', min: 1, max: 100, doc: 'consecutive failing checks before an ALIVE service is UNHEALTHY' },
  },
  proxy: {
    enabled: { type: 'bool', doc: 'run the embedded proxy: one listener per service port on bind_ip' },
    bind_ip: { type: 'ip', emptyOk: true, doc: 'address the service proxies bind', defaultText: '[sidecar] bind_ip' },
    balance: { type: 'enum', values: ['roundrobin', 'least', 'random'], doc: 'how a backend is chosen: roundrobin, least (fewest in-flight) or random' },
    prefer_local: { type: 'bool', doc: 'use this host\'s own instances while any of them is available' },
    site_failover: { type: 'bool', doc: 'use instances of this host\'s [sidecar] site, failing over to other sites only when it has none available' },
    site_order: { type: 'list', check: checkSite, doc: 'sites to fail over to, in order, after this host\'s own (unlisted sites come last)' },
    connect_timeout: { type: 'duration', doc: 'a backend connection not established within this is a failure (retried elsewhere)' },
    idle_timeout: { type: 'duration', doc: 'a client or backend connection silent this long is closed' },
    request_timeout: { type: 'duration', zeroOk: true, doc: 'a request without a response head after this long gets 504 ("0" = no limit)' },
    stall_timeout: { type: 'duration', zeroOk: true, doc: 'http mode: a backend with a request waiting this long for its response head, and no head from it meanwhile, gets no new requests while another backend can take them ("0" = off)' },
    header_timeout: { type: 'duration', doc: 'a client must send a whole request head within this once it started (else 408), and a backend must answer an upgrade within it (else 504)' },
    max_connections: { type: 'int', min: 1, max: 1000000, doc: 'client connections one listener holds open at once; more are closed at accept and counted' },
    service_ports: { type: 'list', check: checkPortRange, doc: 'ServicePorts the proxy may open a listener on, as ports or ranges ("10000-19999"); a record\'s other ServicePorts are not proxied ([] = every port)' },
    max_listeners: { type: 'int', min: 0, max: 65_535, doc: 'service ports the proxy opens a listener for at most; more wait, the most needed first ("0" = an eighth of the open-file limit, at most 4096)', defaultText: '0 (an eighth of the open-file limit, at most 4096)' },
    max_total_connections: { type: 'int', min: 0, max: 10_000_000, doc: 'client connections all listeners together hold open at once; more are closed at accept and counted ("0" = a quarter of the open-file limit, at most 65536)', defaultText: '0 (a quarter of the open-file limit, at most 65536)' },
    retries: { type: 'int', min: 0, max: 10, doc: 'other backends tried after a failed connect (or a reset of, or an unreadable answer head to, an idempotent request without a body)' },
    retry_budget: { type: 'number', min: 0, max: 1, doc: 'retries (not the keep-alive race\'s resend) may add at most this share of a listener\'s requests of the last 10 s, beyond retry_budget_min; past it a failed request is not retried ("0" = only the floor)' },
    retry_budget_min: { type: 'int', min: 0, max: 100_000, doc: 'retries a second a listener may always make, beyond retry_budget (counted over the same 10 s: 10 a second is 100 in any 10 s)' },
    eject_after_5xx: { type: 'int', min: 0, max: 1000, doc: 'consecutive 5xx responses that eject a backend (0 = never)' },
    ejection_base: { type: 'duration', doc: 'how long a failing backend is first ejected; doubles on each repeat' },
    ejection_max: { type: 'duration', doc: 'the longest ejection' },
    drain_grace: { type: 'duration', doc: 'how long a closing listener lets in-flight requests and connections finish' },
    access_log: { type: 'enum', values: ['off', 'text', 'json'], doc: 'one line per request or connection on stdout: off, text or json' },
  },
  listeners: {
    urls: { type: 'list', check: checkHttpUrl, doc: 'http(s) URLs that receive a POST for every state change' },
    webhook: {
      type: 'tables',
      doc: 'webhooks with filters, one [[listeners.webhook]] table each: url, services, status_changes_only',
      fields: {
        url: { type: 'string', required: true, check: checkHttpUrl, doc: 'http(s) URL that receives the POSTs' },
        services: { type: 'list', doc: 'only events about these service names ([] = every service)' },
        status_changes_only: { type: 'bool', doc: 'only events whose status differs from the previous one' },
      },
      fieldDefaults: WEBHOOK_DEFAULTS,
    },
    secret: { type: 'string', emptyOk: true, doc: 'key of the HMAC-SHA256s in the X-Sidecar-Signature and X-Sidecar-Request-Signature headers of every POST ("" = unsigned)' },
    timeout: { type: 'duration', doc: 'a POST not answered (response read) within this long fails and is retried' },
    retries: { type: 'int', min: 0, max: 20, doc: 'retries of a failed POST before the event is dropped for that listener' },
    retry_delay: { type: 'duration', doc: 'delay before the first retry; doubled for each further one, with jitter, at most 10 s' },
    queue_size: { type: 'int', min: 1, max: 100_000, doc: 'events waiting per listener; beyond this, intermediate events are coalesced (the newest is always kept)' },
    min_interval: { type: 'duration', zeroOk: true, doc: 'least time between two POSTs to one listener once a burst of queue_size POSTs is spent (one more is earned per interval of quiet); events wait for it in the queue, and once the queue has overflowed only the newest about each record is sent until it is empty ("0" = as fast as the receiver takes them)' },
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

/** Read by bin/sidecar.js, not by the config: 1 runs src/ even where dist/ exists (the tests set it). */
export const FROM_SOURCE_ENV = 'SIDECAR_FROM_SOURCE'

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
