/* global fetch, AbortSignal */
// The image's HEALTHCHECK: GET /health on the API address this container's configuration
// gives (the same loader the daemon uses: ./sidecar.toml, environment), so it follows
// API_PORT, API_BIND_IP and SIDECAR_BIND_IP. Exit 0 when the daemon answers 200, else 1.
import { loadConfig } from '../dist/config/index.js'

// A check that has not answered in this long fails (Docker's own --timeout also applies).
const TIMEOUT_MS = 2500
const ANY = new Set(['0.0.0.0', '::', ''])

try {
  const { config } = loadConfig({ env: process.env, overrides: {}, cwd: process.cwd() })
  const ip = config.api.bind_ip !== '' ? config.api.bind_ip : config.sidecar.bind_ip
  const host = ANY.has(ip) ? '127.0.0.1' : ip.includes(':') ? `[${ip}]` : ip
  const res = await fetch(`http://${host}:${config.api.port}/health`, { signal: AbortSignal.timeout(TIMEOUT_MS) })
  const body = await res.text()
  process.stdout.write(`${res.status} ${body.slice(0, 200)}\n`)
  process.exit(res.ok ? 0 : 1)
} catch (err) {
  process.stdout.write(`health check failed: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
}
