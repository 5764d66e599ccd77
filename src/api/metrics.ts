// Catalog-level Prometheus metrics, computed when /metrics is scraped (nothing is counted on
// the merge path): records by status, hosts, cluster members.
import type { Catalog } from '../catalog/index.ts'
import type { Metrics } from '../lib/metrics.ts'
import { ServiceStatus, statusString } from '../service/status.ts'
import type { ClusterMember } from './views.ts'

const STATUSES = Object.values(ServiceStatus)

export function registerCatalogMetrics (metrics: Metrics, catalog: Catalog, members: () => readonly ClusterMember[]): void {
  metrics.gauge('sidecar_services', 'Service records in the catalog, every host, by status', ['status'], function () {
    const counts = new Map<number, number>(STATUSES.map(s => [s, 0]))
    for (const host of catalog.hostnames()) { // unsorted per host: a scrape of 100,000 records must not sort them
      for (const svc of catalog.hostRecords(host)) counts.set(svc.Status, (counts.get(svc.Status) ?? 0) + 1)
    }
    for (const [status, n] of counts) this.set({ status: statusString(status).toLowerCase() }, n)
  })
  metrics.gauge('sidecar_local_services', 'Service records of this host, by status', ['status'], function () {
    const counts = new Map<number, number>(STATUSES.map(s => [s, 0]))
    for (const svc of catalog.hostRecords(catalog.hostname)) counts.set(svc.Status, (counts.get(svc.Status) ?? 0) + 1)
    for (const [status, n] of counts) this.set({ status: statusString(status).toLowerCase() }, n)
  })
  metrics.gauge('sidecar_catalog_hosts', 'Hosts with at least one record (tombstones included)', [], function () {
    this.set(catalog.hostnames().length)
  })
  metrics.gauge('sidecar_cluster_members', 'Cluster members this host knows, itself included', [], function () {
    this.set(members().length)
  })
}
