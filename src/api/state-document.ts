// /state.json built without stalling the event loop: the same bytes as catalog/encodeState
// (Go's encoding: keys sorted by bytes, <, >, & escaped), but from the catalog's live maps
// instead of a frozen snapshot, encoding a slice of records between yields. The record
// lists are copied first (records are immutable), so the document is the state as of the
// call even if merges land while it is being encoded.
import { setImmediate as yieldToLoop } from 'node:timers/promises'
import type { Catalog } from '../catalog/index.ts'
import { compareGoStrings, goEscape } from '../catalog/index.ts'
import { encodeService, type Time } from '../service/index.ts'

/** Records encoded between two yields: a few ms of work. */
const SLICE = 2000

function q (value: string | Time): string {
  return JSON.stringify(typeof value === 'string' ? value : value.toString())
}

export async function encodeStateSliced (catalog: Catalog): Promise<string> {
  const hosts = catalog.hostnames().map(host => ({ host, summary: catalog.serverSummary(host), records: catalog.hostRecords(host) }))
  const head = { lastChanged: catalog.lastChanged, clusterName: catalog.clusterName, hostname: catalog.hostname }
  const servers: string[] = []
  let n = 0
  for (const { host, summary, records } of hosts) {
    if (summary === undefined) continue
    records.sort((a, b) => compareGoStrings(a.ID, b.ID))
    const services: string[] = []
    for (const svc of records) {
      services.push(goEscape(`${q(svc.ID)}:${encodeService(svc)}`))
      if (++n % SLICE === 0) await yieldToLoop()
    }
    servers.push(goEscape(`${q(host)}:{"Name":${q(host)},"Services":{`) + services.join(',') + goEscape(`},"LastUpdated":${q(summary.lastUpdated)},"LastChanged":${q(summary.lastChanged)}}`))
  }
  return `{"Servers":{${servers.join(',')}}` + goEscape(`,"LastChanged":${q(head.lastChanged)},"ClusterName":${q(head.clusterName)},"Hostname":${q(head.hostname)}}`)
}
