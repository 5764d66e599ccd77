// Runs a BulkPeer as its own process (so a test's or benchmark's own work never starves
// it): node bulk-peer-main.ts IP HOSTNAME RECORDS [SEED...]; prints "ready" once started,
// stops on SIGTERM or when its parent goes away.
import { BulkPeer } from './bulk-peer.ts'

const [ip, hostname, records, ...seeds] = process.argv.slice(2)
const peer = await BulkPeer.start({ ip, hostname, records: Number(records), seeds })
process.stdout.write('ready\n')
// What it holds, for benchmarks that wait for the origins to converge among themselves.
const report = setInterval(() => { process.stdout.write(`size ${peer.catalog.size}\n`) }, 500)
const stop = (): void => { clearInterval(report); void peer.stop().finally(() => process.exit(0)) }
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
process.once('disconnect', stop)
