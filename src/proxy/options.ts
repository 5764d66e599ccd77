// What the proxy is told by whoever builds it (the daemon passes the resolved [proxy]
// section, which has this shape): the proxy reads no config module itself.

export type ProxyBalance = 'roundrobin' | 'least' | 'random'
export type AccessLogFormat = 'off' | 'text' | 'json'

export interface ProxyOptions {
  enabled: boolean
  /** The given value, else sidecar.bind_ip. */
  bind_ip: string
  balance: ProxyBalance
  prefer_local: boolean
  site_failover: boolean
  site_order: readonly string[]
  /** Milliseconds; durations below are all milliseconds. */
  connect_timeout: number
  idle_timeout: number
  /** 0 = no per-request timeout. */
  request_timeout: number
  /** A backend that answered no request for this long while one waits gets no new ones (while others can); 0 = off. */
  stall_timeout: number
  retries: number
  /** Retries may add at most this share (0..1) of a listener's requests of the last 10 s. */
  retry_budget: number
  /** Retries a second a listener may make whatever its requests. */
  retry_budget_min: number
  /** Consecutive 5xx responses that eject a backend; 0 = never. */
  eject_after_5xx: number
  ejection_base: number
  ejection_max: number
  drain_grace: number
  /** A client's whole request head, and a backend's answer to an upgrade, must come within this. */
  header_timeout: number
  /** Client connections one listener holds open at once. */
  max_connections: number
  /** Client connections all listeners together hold open at once (the [proxy] key, resolved). */
  max_total_connections: number
  /** Ports or ranges ("10000-19999") a listener may open on; [] = every port. */
  service_ports: readonly string[]
  /** Listeners open at once (the [proxy] key, resolved); more service ports wait for room. */
  max_listeners: number
  access_log: AccessLogFormat
}
