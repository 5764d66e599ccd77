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
}

export interface ApiSection {
  /** Resolved: the given value, else sidecar.bind_ip. */
  bind_ip: string
  port: number
}

export interface StaticDiscoverySection {
  /** Resolved against the working directory. */
  config_file: string
}

export interface DockerDiscoverySection {
  docker_url: string
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

export interface ProxySection {
  /** Resolved: the given value, else sidecar.bind_ip. */
  bind_ip: string
}

export interface ListenersSection {
  urls: string[]
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
