// Small valid values for unit tests, so each test states only what it is about.
import { makeService, ServiceStatus, Time, type Service } from '../../src/service/index.ts'
import type { CatalogOptions } from '../../src/catalog/index.ts'

/** The fixed time test records are stamped with unless a test says otherwise. */
export const BASE_TIME = Time.parse('2024-05-01T10:00:00Z')

/** BASE_TIME moved by ms milliseconds (negative for earlier). */
export function at (ms: number): Time {
  return BASE_TIME.plusMillis(ms)
}

/** A valid ALIVE 'web' record on host1, Updated = BASE_TIME, with the given fields replaced. */
export function makeTestService (overrides: Partial<Service> = {}): Service {
  return makeService({
    ID: 'abc123def456',
    Name: 'web',
    Image: 'nginx:1.27',
    Created: Time.parse('2024-05-01T09:00:00Z'),
    Hostname: 'host1',
    Ports: [{ Type: 'tcp', Port: 32768, ServicePort: 8080, IP: '10.0.0.5' }],
    Updated: BASE_TIME,
    ProxyMode: 'http',
    Status: ServiceStatus.ALIVE,
    ...overrides,
  })
}

/** The original's default lifespans, for a catalog that calls itself host1 in cluster 'default'. */
export function makeCatalogOptions (overrides: Partial<CatalogOptions> = {}): CatalogOptions {
  return {
    hostname: 'host1',
    clusterName: 'default',
    aliveLifespanMs: 80_000,
    drainingLifespanMs: 600_000,
    tombstoneLifespanMs: 10_800_000,
    ...overrides,
  }
}
