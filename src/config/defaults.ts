// Built-in defaults, written as they would be in the TOML file (durations as strings), each
// with the reason for its value. An empty string marks a value resolved at start-up
// (see resolve.ts); the docs and --help say what it resolves to.
import type { SidecarConfig } from './types.ts'

export type RawValue = string | number | boolean | readonly string[]
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
    discovery: ['static'], // static works everywhere; docker needs a reachable Docker daemon
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
  },
  api: {
    bind_ip: '', // '' = [sidecar] bind_ip
    port: 7777, // the original's fixed HTTP port, so existing clients keep working
  },
  static_discovery: {
    config_file: 'static.json', // the original's STATIC_CONFIG_FILE default
  },
  docker_discovery: {
    docker_url: 'unix:///var/run/docker.sock', // the Docker daemon's standard local socket (the original's DOCKER_URL default)
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
    bind_ip: '', // '' = [sidecar] bind_ip
  },
  listeners: {
    urls: [], // no webhooks unless asked for
  },
} as const satisfies RawConfig
