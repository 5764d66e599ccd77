// Test files run at once (ava runs files side by side, and a file's tests concurrently), so a
// loopback address two files bind makes both flaky: one daemon cannot bind, or a test reads the
// other file's (ui-browser and streams on 127.0.4.10, flap-storm and operator-errors on
// 127.0.46.2-3, the anti-entropy unit and scale tests on 127.0.14.20-21: the first seen failing
// in a run of both files, the others found by reading). So each 127.x.y.z written in a test
// file belongs to that file alone. Not counted: 127.0.0.0/24 (listeners on port 0 share it),
// the files in VALUES (their addresses are only values in records and configs, never bound),
// and addresses built in a template (`127.0.1.${i}`).
import test from 'ava'
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'

const REPO = path.resolve(import.meta.dirname, '../../..')

/** Files whose loopback addresses are values only (a record's port IP, a seed in a config), never bound. */
const VALUES = new Set([
  'test/unit/config/env.test.ts',
  'test/unit/discovery/docker/container-set.test.ts',
  'test/unit/discovery/docker/container.test.ts',
  'test/unit/discovery/docker/labels.test.ts',
  'test/unit/gossip/admission.test.ts',
  'test/unit/proxy/reset-after-flush.test.ts',
])

const ADDRESS = /['"`](127\.\d{1,3}\.\d{1,3}\.\d{1,3})(?=['"`:])/g

/** Each address written in more than one of `files`, with them: "127.x.y.z: a.test.ts, b.test.ts". */
function shared (files: Array<{ name: string, text: string }>): string[] {
  const users = new Map<string, Set<string>>()
  for (const { name, text } of files) {
    if (VALUES.has(name)) continue
    for (const [, address] of text.matchAll(ADDRESS)) {
      if (address.startsWith('127.0.0.')) continue
      users.set(address, (users.get(address) ?? new Set()).add(name))
    }
  }
  return [...users].filter(([, names]) => names.size > 1).map(([address, names]) => `${address}: ${[...names].sort().join(', ')}`).sort()
}

test('test addresses: an address written in two test files is found, with both files named', t => {
  t.deepEqual(shared([
    { name: 'test/integration/a.test.ts', text: "startDaemon({ ip: '127.0.250.10' })\nlisten(0, '127.0.0.1')" },
    { name: 'test/integration/b.test.ts', text: "const IP = `127.0.250.10`\nlisten(0, '127.0.0.1')" },
    { name: 'test/integration/c.test.ts', text: "listen(0, '127.0.0.1')\nconst seed = \"127.0.250.12:7946\"" },
    { name: 'test/unit/gossip/admission.test.ts', text: "hostIps: new Set(['127.0.250.12'])" },
  ]), ['127.0.250.10: test/integration/a.test.ts, test/integration/b.test.ts'])
})

test('test addresses: every loopback address a test file writes is that file\'s alone', t => {
  const files = readdirSync(path.join(REPO, 'test'), { recursive: true, encoding: 'utf8' })
    .filter(f => f.endsWith('.test.ts'))
    .map(f => ({ name: path.posix.join('test', f.split(path.sep).join('/')), text: readFileSync(path.join(REPO, 'test', f), 'utf8') }))
  t.true(files.length > 100, `${files.length} test files read`)
  t.deepEqual(shared(files), [], 'give one of the files an address of its own')
})
