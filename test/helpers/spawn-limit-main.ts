// Child process of test/unit/health/checks-external.test.ts: runs one External check after
// making process creation fail, and prints one JSON line: the check's result, or the error
// its promise rejected with. 'emfile': every file descriptor is taken, so the pipes cannot
// be made. 'eagain': the soft process limit (RLIMIT_NPROC) is lowered to 1 by prlimit, so
// fork fails; run it as a user other than root, whom the limit does not bind.
import { spawnSync } from 'node:child_process'
import { openSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { external } from '../../src/health/checks.ts'

const mode = process.argv[2]
await readFile('/proc/self/status') // the thread pool's threads are started now, not under the limit
const held: number[] = []
if (mode === 'emfile') {
  try { for (;;) held.push(openSync('/dev/null', 'r')) } catch { /* EMFILE: all taken */ }
} else {
  const r = spawnSync('prlimit', ['--pid', String(process.pid), '--nproc=1:'])
  if (r.status !== 0) throw new Error(`prlimit failed: ${String(r.stderr)}`)
}
let out: unknown
try {
  out = { result: await external('exit 0', AbortSignal.timeout(5000)) }
} catch (err) {
  out = { rejected: err instanceof Error ? err.message : String(err) }
}
process.stdout.write(JSON.stringify(out) + '\n')
process.exit(0)
