// The effective configuration: every key resolved (defaults < file < env < flags).
// Sections and keys mirror the TOML file; durations are milliseconds.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error'
export type DiscoveryKind = 'static' | 'docker'

export interface SidecarSection {
  /** Name this host announces its services under; default the OS hostname. */
  hostname: string
  cluster_name: string
  /** Seeds as given: "host" or "host:port". */
  seeds: string[]
  /** Resolved: the given value, else the first private IPv4 not excluded, else 127.0.0.1. */
  advertise_ip: string
  exclude_ips: string[]
  /** Address every listener binds unless its own section says otherwise. */
  bind_ip: string
  /** Gossip port. */
  bind_port: number
  discovery: DiscoveryKind[]
  logging_level: LogLevel
  logging_format: 'text' | 'json'
  default_check_endpoint: string
  push_pull_interval: number
  alive_lifespan: number
  draining_lifespan: number
  tombstone_lifespan: number
  /** How often expired records are tombstoned and old tombstones removed. */
  reap_interval: number
  data_dir: string
  cluster_key: string
  site: string
  /** How long a peer that lost its connections may take to come back before it is departed. */
  departure_grace: number
  /** Gossip over QUIC too (off when cluster_key is set: the key does not guard QUIC). */
  quic: boolean
  /** Records accepted from one other host at most. */
  max_records_per_host: number
  /** Records held in total at most. */
  max_records: number
  /** CIDRs a remote record's backend IPs may be in besides its host's own address. */
  backend_cidrs: string[]
}

export interface ApiSection {
  /** Resolved: the given value, else sidecar.bind_ip. */
  bind_ip: string
  port: number
  /** Change events kept so an SSE client can resume with Last-Event-ID. */
  event_buffer: number
  /** Bytes of events one SSE client may have waiting before it is dropped. */
  stream_queue_bytes: number
  /** Time between SSE heartbeats (and cluster member updates on the stream). */
  heartbeat_interval: number
  /** Bearer token of the write endpoints; '' = none. */
  token: string
  /** Concurrent /watch and SSE clients. */
  /** Client connections the API holds at once; resolved at start (0 = an eighth of the open-file limit, at most 4096). */
  max_connections: number
  max_stream_clients: number
  allowed_hosts: string[]
  /** Origins whose pages may frame the UI (CSP frame-ancestors); [] = none. */
  frame_ancestors: string[]
  /** Adds prom-client's nodejs_gc_duration_seconds to /metrics (off: it costs the proxy's tail latency). */
  gc_metrics: boolean
}

export interface StaticDiscoverySection {
  /** Resolved against the working directory. */
  config_file: string
}

export interface DockerDiscoverySection {
  /** '' = DOCKER_HOST (and its TLS variables) when set, else unix:///var/run/docker.sock. */
  docker_url: string
  /** Time between two full container lists (ms). */
  reconcile_interval: number
  /** Run HealthCheck=External labels inside their container; false: they fail with a clear error. */
  allow_external_checks: boolean
  /** HttpGet and TcpConnect labels may reach any address; false: the container's published TCP ports only. */
  check_any_target: boolean
}

export interface ServicesSection {
  namer: 'docker_label' | 'regex'
  name_label: string
  name_match: string
}

export interface HealthSection {
  interval: number
  timeout: number
  /** Consecutive passing results before an unhealthy service is ALIVE again. */
  rise: number
  /** Consecutive failing results before an ALIVE service is UNHEALTHY. */
  fall: number
}

export type ProxyBalance = 'roundrobin' | 'least' | 'random'
export type AccessLogFormat = 'off' | 'text' | 'json'

export interface ProxySection {
  enabled: boolean
  /** Resolved: the given value, else sidecar.bind_ip. */
  bind_ip: string
  balance: ProxyBalance
  prefer_local: boolean
  site_failover: boolean
  site_order: string[]
  /** Milliseconds; durations below are all milliseconds. */
  connect_timeout: number
  idle_timeout: number
  /** 0 = no per-request timeout. */
  request_timeout: number
  /** A backend that answered no request for this long while one waits gets no new ones (while others can); 0 = off. */
  stall_timeout: number
  /** Request head from the client, and the backend's answer to an upgrade. */
  header_timeout: number
  /** Client connections per listener. */
  max_connections: number
  /** Client connections of all listeners together; resolved at start (0 = a quarter of the open-file limit, at most 65536). */
  max_total_connections: number
  /** Ports or ranges ("10000-19999") the proxy may listen on; [] = every port. */
  service_ports: string[]
  /** Listeners open at once; resolved at start (0 = an eighth of the open-file limit, at most 4096). */
  max_listeners: number
  retries: number
  /** Retries may add at most this share (0..1) of a listener's requests of the last 10 s. */
  retry_budget: number
  /** Retries a second a listener may make whatever its requests (a floor under retry_budget). */
  retry_budget_min: number
  /** Consecutive 5xx responses that eject a backend; 0 = never. */
  eject_after_5xx: number
  ejection_base: number
  ejection_max: number
  drain_grace: number
  access_log: AccessLogFormat
}

/** One [[listeners.webhook]] table: a configured listener with its own filters. */
export interface WebhookConfig {
  url: string
  /** Only events about these service names; [] = every service. */
  services: string[]
  /** Only events whose status differs from the previous one. */
  status_changes_only: boolean
}

export interface ListenersSection {
  /** Webhooks that receive every event (the original's LISTENERS_URLS). */
  urls: string[]
  webhook: WebhookConfig[]
  /** Key of the X-Sidecar-Signature and X-Sidecar-Request-Signature HMACs; '' = unsigned. */
  secret: string
  /** Per attempt, from sending the request to reading the response. */
  timeout: number
  /** Attempts after the first one fails. */
  retries: number
  /** Delay before the first retry; doubled for each further one. */
  retry_delay: number
  /** Events waiting per listener before intermediate ones are coalesced. */
  queue_size: number
  /** Least time between two POSTs to one listener; 0 = none. */
  min_interval: number
}

export interface SidecarConfig {
  sidecar: SidecarSection
  api: ApiSection
  static_discovery: StaticDiscoverySection
  docker_discovery: DockerDiscoverySection
  services: ServicesSection
  health: HealthSection
  proxy: ProxySection
  listeners: ListenersSection
}
