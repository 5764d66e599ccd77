// Debian's Chromium driven by playwright-core, for the web UI's browser tests. `missing` names
// what this machine lacks (the tests are then skipped with that message).
import type { ExecutionContext } from 'ava'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { startDaemon, type DaemonProcess } from './daemon.ts'

export const CHROMIUM = '/usr/bin/chromium'
// As measured on this machine: without the networking flags Chromium keeps trying Google's hosts.
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync']

async function playwright (): Promise<typeof import('playwright-core') | undefined> {
  try {
    return await import('playwright-core')
  } catch {
    return undefined
  }
}

export const pw = existsSync(CHROMIUM) ? await playwright() : undefined
export const missing = !existsSync(CHROMIUM) ? `${CHROMIUM} (apt-get install chromium)` : pw === undefined ? 'playwright-core (npm ci)' : undefined

/** A daemon whose static discovery reads `entries`; `write` replaces them (the daemon reloads the file). Torn down with the test. */
export interface Node { d: DaemonProcess, write: (entries: unknown[]) => Promise<void> }

export async function staticNode (t: ExecutionContext, ip: string, hostname: string, entries: unknown[], args: string[] = [], env: Record<string, string> = {}): Promise<Node> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `sidecar-${hostname}-`))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const file = path.join(dir, 'static.json')
  const write = async (list: unknown[]): Promise<void> => { await writeFile(file, JSON.stringify(list)) }
  await write(entries)
  const d = await startDaemon({ ip, hostname, cwd: dir, args: ['-d', 'static', ...args], env: { STATIC_CONFIG_FILE: file, HEALTH_INTERVAL: '500ms', HEALTH_TIMEOUT: '400ms', SIDECAR_LOGGING_LEVEL: 'info', ...env } })
  t.teardown(() => { d.kill() })
  return { d, write }
}
