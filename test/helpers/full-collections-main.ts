// Child process of test/unit/lib/heap-mode.test.ts, started with --expose-gc: counts the calls of
// watchFullCollections' callback after scavenges, after full collections, and after stop().
// Prints one JSON line.
import { setTimeout as sleep } from 'node:timers/promises'
import { watchFullCollections } from '../../src/lib/heap-mode.ts'

const gc = (globalThis as unknown as { gc: (o: { type: 'minor' | 'major' }) => void }).gc
let calls = 0
const watch = watchFullCollections(() => { calls++ })
const turn = async (): Promise<void> => { await sleep(20) } // the registry's callback runs as a task after the collection

// scavenges, forced and from allocation (short-lived objects, as the proxy makes)
for (let i = 0; i < 5; i++) { gc({ type: 'minor' }); await turn() }
let junk: unknown[] = []
for (let i = 0; i < 2_000_000; i++) { junk.push({ i }); if (junk.length > 1000) junk = [] }
await turn()
const afterScavenges = calls

const afterMajors: number[] = []
for (let i = 0; i < 3; i++) { gc({ type: 'major' }); await turn(); afterMajors.push(calls) }

watch.stop()
gc({ type: 'major' }); await turn()
console.log(JSON.stringify({ afterScavenges, afterMajors, afterStop: calls, junk: junk.length > 0 }))
