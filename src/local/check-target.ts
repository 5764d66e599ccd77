// From a discovered service to the health check of its record: the discoverer's check or
// the default one (reference §4.4), templates expanded once (a discoverer that already
// expanded them, Docker's labels, says so with `checkRendered`).
import type { CheckSpec, Discovered } from '../discovery/types.ts'
import { fillEmptyHost } from '../health/checks.ts'
import type { CheckTarget } from '../health/target.ts'
import { renderCheckArgs } from '../health/template.ts'
import { errorMessage } from '../lib/errors.ts'
import { recordKey, type Service } from '../service/service.ts'

export interface CheckDefaults {
  /** The advertise IP: {{ host }} and the host of default checks. */
  checkHost: string
  /** Path of the default HTTP check ("/version" in the original). */
  defaultCheckEndpoint: string
}

/** The check of reference §4.4 when a discoverer gives none. */
export function defaultCheck (svc: Service, host: string, endpoint: string): CheckSpec {
  const port = svc.Ports?.find(p => p.Type === 'tcp')
  if (port === undefined) return { type: 'AlwaysSuccessful', args: '' }
  const ip = port.IP === '' ? host : port.IP
  const path = endpoint === '' ? '/' : endpoint.startsWith('/') ? endpoint : `/${endpoint}`
  return { type: 'HttpGet', args: `http://${ip.includes(':') ? `[${ip}]` : ip}:${port.Port}${path}` }
}

/** The check target of a discovered service; a template that cannot be filled gives a target with its error. */
export function checkTargetOf (d: Discovered, defaults: CheckDefaults): CheckTarget {
  const key = recordKey(d.service)
  const id = d.service.ID
  const spec = d.check ?? defaultCheck(d.service, defaults.checkHost, defaults.defaultCheckEndpoint)
  try {
    const rendered = d.checkRendered === true ? spec.args : renderCheckArgs(spec.args, d.service, { host: defaults.checkHost, container: d.container })
    const args = spec.type === 'HttpGet' ? fillEmptyHost(rendered, defaults.checkHost) : rendered
    return { key, id, type: spec.type, args, ...(spec.reach !== undefined ? { reach: spec.reach } : {}) }
  } catch (err) {
    return { key, id, type: spec.type, args: spec.args, error: errorMessage(err) }
  }
}
