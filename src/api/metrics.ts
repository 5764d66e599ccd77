// Catalog-level Prometheus metrics, read when /metrics is scraped: records by status (counted
// by the catalog as it stores them), hosts, cluster members.
import type { Catalog } from '../catalog/index.ts'
import type { Metrics } from '../lib/metrics.ts'
import { ServiceStatus, statusString } from '../service/status.ts'
import type { ClusterMember } from './views.ts'

const STATUSES = Object.values(ServiceStatus)

export function registerCatalogMetrics (metrics: Metrics, catalog: Catalog, members: () => readonly ClusterMember[]): void {
  metrics.gauge('sidecar_services', 'Service records in the catalog, every host, by status', ['status'], function () {
    const counts = catalog.statusCounts() // kept by the catalog: a scrape never walks 100,000 records
    for (const status of STATUSES) this.set({ status: statusString(status).toLowerCase() }, counts.get(status) ?? 0)
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
