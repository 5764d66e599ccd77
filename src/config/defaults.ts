// Built-in defaults, written as they would be in the TOML file (durations as strings), each
// with the reason for its value. An empty string marks a value resolved at start-up
// (see resolve.ts); the docs and --help say what it resolves to.
import type { SidecarConfig } from './types.ts'

export type RawValue = string | number | boolean | readonly string[] | readonly RawTable[]
export interface RawTable { readonly [key: string]: RawValue }
export type RawConfig = { readonly [S in keyof SidecarConfig]: { readonly [K in keyof SidecarConfig[S]]: RawValue } }

export const DEFAULTS = {
  sidecar: {
    hostname: '', // '' = the OS hostname: services are announced under the name the host is known by
    cluster_name: 'default', // the original's default; nodes gossip only within one cluster name
    seeds: [], // no seeds: run alone until another node names this one as its seed
    advertise_ip: '', // '' = first private IPv4 not excluded, as the original scanned the interfaces
    exclude_ips: ['192.168.168.168'], // the original's default: its HAProxy/Envoy bind address is never a host address
    bind_ip: '0.0.0.0', // listen on every interface, like the original's gossip and HTTP listeners
    bind_port: 7946, // the original's memberlist port, so firewall rules carry over
    discovery: ['docker'], // the original's default; without a reachable Docker the daemon still runs and retries with backoff
    logging_level: 'info', // the original's default
    logging_format: 'text', // readable in a terminal; "json" for log shippers
    default_check_endpoint: '/version', // the original's SIDECAR_DEFAULT_CHECK_ENDPOINT default
    push_pull_interval: '20s', // the original's anti-entropy period: a lost gossip message is repaired within 20 s
    alive_lifespan: '80s', // a record not refreshed for 80 s is presumed dead (the original's ALIVE_LIFESPAN)
    draining_lifespan: '10m', // a drained instance stays visible 10 min while clients move away (the original's DRAINING_LIFESPAN)
    tombstone_lifespan: '3h', // tombstones outlive any plausible partition so a dead record cannot come back (the original's TOMBSTONE_LIFESPAN)
    reap_interval: '2s', // the original's BroadcastTombstones period: expiry is noticed within 2 s
    data_dir: '', // '' = ~/.sidecar/<hostname>: per host name, so several local daemons never share state
    cluster_key: '', // no key: cluster isolation by name only, as in the original
    site: '', // no site label, as in the original
    departure_grace: '1s', // rides out a dropped connection or a quick restart, yet a dead host is tombstoned within about 2 s
    quic: true, // UDP, as the original gossiped; TCP carries everything when QUIC cannot load or a cluster_key is set
    max_records_per_host: 20_000, // twice the 10,000 instances one host is built and benchmarked for
    max_records: 100_000, // the most a full state may hold (catalog MAX_STATE_RECORDS): a few hundred MB at worst
    backend_cidrs: [], // none: another host's services must be on that host's own address, so no member can aim the proxies elsewhere
  },
  api: {
    bind_ip: '', // '' = [sidecar] bind_ip
    port: 7777, // the original's fixed HTTP port, so existing clients keep working
    event_buffer: 1000, // change events kept for SSE resume: minutes of a busy cluster's changes; longer gaps get a fresh snapshot
    stream_queue_bytes: 1_048_576, // 1 MiB (~2000 typical events) waiting for one watch/SSE client: further behind, it has stopped reading
    heartbeat_interval: '15s', // keeps idle SSE streams open through proxies that cut silent connections (often after 30-60 s)
    token: '', // none, as in the original: existing drain scripts keep working; cross-origin browser writes are refused anyway
    max_connections: 0, // 0 = an eighth of the open-file limit, at most 4096: a client flood cannot take the descriptors health checks and gossip need
    max_stream_clients: 512, // far above the UI tabs and watchers one host serves, while 512 x stream_queue_bytes bounds their memory
    allowed_hosts: [], // none beyond IP addresses, localhost and this host's name: any other name could be a rebound one
    frame_ancestors: [], // no page may frame the UI: a framing page could lay it under a decoy and steer clicks onto drain
    gc_metrics: false, // watching collections makes Node keep an entry of each, which brings on full collections that slow the proxy's slowest requests
  },
  static_discovery: {
    config_file: 'static.json', // the original's STATIC_CONFIG_FILE default
  },
  docker_discovery: {
    docker_url: '', // '' = Docker's own variables (DOCKER_HOST...) when set, else the standard local socket, as the docker CLI does
    reconcile_interval: '3s', // events bring changes in milliseconds; the full list only repairs a missed one, and is cheap
    allow_external_checks: false, // anyone who can start a container must not get to run commands through this daemon
    check_any_target: false, // nor to make it connect, from the host's network, to anything but that container's published ports
  },
  services: {
    namer: 'docker_label', // the original's default: the name comes from a container label
    name_label: 'ServiceName', // the original's SERVICES_NAME_LABEL default
    name_match: '', // only used by the regex namer, which then requires it
  },
  health: {
    interval: '3s', // the original's Monitor.Run period: a failure is seen within about 3 s
    timeout: '2s', // a check must end within its interval (the original waited 2.999 s); 1 s of slack keeps rounds apart
    rise: 1, // the original: one passing check makes a service ALIVE
    fall: 1, // the original: one failing check makes a service UNHEALTHY (raise it to damp flapping)
  },
  proxy: {
    enabled: true, // every host proxies every service port, as the original ran HAProxy unless HAPROXY_DISABLE
    bind_ip: '', // '' = [sidecar] bind_ip
    balance: 'roundrobin', // the original's HAProxy template balanced round robin
    prefer_local: false, // spread over the whole cluster, as the original did
    site_failover: false, // sites are an opt-in from sidekick; the original had none
    site_order: [], // no order: after its own site a host fails over to every other site at once
    connect_timeout: '1s', // a loopback or LAN connect takes well under 1 s; longer means the backend is gone
    idle_timeout: '1m', // the original's HAProxy "timeout client/server 1m"
    request_timeout: '0', // no limit, as the original's Envoy route (timeout 0s): long polls must work
    stall_timeout: '2s', // steering only (no failure, no 504): a hung backend takes 2 s of its share, not idle_timeout's 60 s
    header_timeout: '10s', // HAProxy's "timeout http-request" is commonly 10 s: a slow-loris client or a silent upgrade backend holds a socket no longer
    max_connections: 10000, // far above what one service port needs; max_total_connections bounds all listeners together
    service_ports: [], // every ServicePort, as the original; list ranges so that no member can take another port (5432, 6379, ...) on every host
    max_listeners: 0, // 0 = an eighth of the open-file limit, at most 4096 (about 70 MB): a member that claims thousands of service ports cannot make every host use up its descriptors
    max_total_connections: 0, // 0 = a quarter of the open-file limit (with their backend connections, clients hold at most half of it), at most 65536 (about 700 MB)
    retries: 2, // two other backends is enough to ride over one dead host without amplifying an outage
    retry_budget: 0.2, // Linkerd's default: retries add at most 20 % to a service's load, not 200 % when most requests fail
    retry_budget_min: 10, // Linkerd's default floor: a quiet service still has its few failures retried
    eject_after_5xx: 0, // off: a 5xx may be the application's own answer (Envoy's default is 5 when on)
    ejection_base: '10s', // long enough to stop hammering a dead backend, short enough to retry it soon
    ejection_max: '5m', // a backend that keeps failing is still probed every 5 min
    drain_grace: '10s', // in-flight requests of a closing listener get 10 s to finish
    access_log: 'off', // request logs are high volume; ask for them
  },
  listeners: {
    urls: [], // no webhooks unless asked for
    webhook: [], // no filtered webhooks unless asked for
    secret: '', // unsigned, as in the original: receivers that never heard of signatures keep working
    timeout: '3s', // the original's listener HTTP client timeout
    retries: 5, // the original's DefaultRetries: up to 6 attempts per event
    retry_delay: '100ms', // the original's retry step; doubled per retry (with jitter, at most 10 s)
    queue_size: 100, // a burst of 100 changes (a host restarting its containers) arrives event by event; the original buffered 20 and dropped the rest
    min_interval: '50ms', // after a burst of queue_size POSTs (a host restarting its containers, sent at once), at most 20 of the whole state a second per listener, however fast a member flips its records
  },
} as const satisfies RawConfig

/** Fields a [[listeners.webhook]] table may leave out. */
export const WEBHOOK_DEFAULTS = {
  services: [], // every service, like a [listeners] urls entry
  status_changes_only: false, // every event, like a [listeners] urls entry
} as const
