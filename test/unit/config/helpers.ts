// Shared set-up for config tests: a loadConfig with a fixed host (hostname, interfaces,
// home directory) and a temporary directory per test for config files.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { ExecutionContext } from 'ava'
import { loadConfig, type LoadOptions, type LoadedConfig } from '../../../src/config/index.ts'
import { ConfigError } from '../../../src/lib/errors.ts'

export const HOME = '/home/tester'
export const INTERFACES = {
  lo: [{ address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4', mac: '00:00:00:00:00:00', internal: true, cidr: '127.0.0.1/8' }],
  eth0: [
    { address: '192.168.168.168', netmask: '255.255.255.0', family: 'IPv4', mac: '02:00:00:00:00:01', internal: false, cidr: '192.168.168.168/24' },
    { address: '10.1.2.3', netmask: '255.0.0.0', family: 'IPv4', mac: '02:00:00:00:00:01', internal: false, cidr: '10.1.2.3/8' },
  ],
} as const satisfies LoadOptions['interfaces']

/** A fresh directory, removed when the test ends. */
export function tmpDir (t: ExecutionContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sidecar-config-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

export function writeFile (dir: string, name: string, text: string): string {
  const file = path.join(dir, name)
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(file, text)
  return file
}

/** loadConfig with a fixed host; cwd is an empty directory unless given. */
export function load (t: ExecutionContext, opts: Partial<LoadOptions> = {}): LoadedConfig {
  return loadConfig({
    env: {},
    overrides: {},
    cwd: opts.cwd ?? tmpDir(t),
    osHostname: 'testhost',
    interfaces: INTERFACES,
    homedir: HOME,
    openFiles: 1_048_576,
    ...opts,
  })
}

/** The problems of the ConfigError that loading throws (fails the test if none is thrown). */
export function problems (t: ExecutionContext, opts: Partial<LoadOptions> = {}): readonly string[] {
  const err = t.throws(() => load(t, opts), { instanceOf: ConfigError })
  return (err as ConfigError | undefined)?.problems ?? []
}

/** True when some problem contains every one of the fragments. */
export function hasProblem (list: readonly string[], ...fragments: string[]): boolean {
  return list.some((p) => fragments.every((f) => p.includes(f)))
}
