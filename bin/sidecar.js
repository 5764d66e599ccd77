#!/usr/bin/env node
// Entry point. Checks the Node version first, so an old Node gets a clear message instead
// of a crash deep inside libp2p, then runs the compiled CLI (dist/), or the TypeScript
// sources directly in a checkout that has not been built or whose build is older than src/.
import { existsSync, readdirSync, statSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const [major, minor] = process.versions.node.split('.').map(Number)
if (major < 22 || (major === 22 && minor < 20)) {
  process.stderr.write(`sidecar needs Node.js 22.20 or newer (24 recommended); this is ${process.version}.\n` +
    'In a checkout, `npm ci` installs Node 24 locally: run through `npm start` or `npx sidecar`.\n')
  process.exit(1)
}

// Memory: V8's young generation may grow to 3 x 16 MB semispaces, most of an idle daemon's
// private memory. Smaller ones (measured: about 50 MB less RSS per daemon, CPU unchanged)
// need flags at start-up, so the process re-executes itself with them (same PID, where
// process.execve exists: Node >= 23.11 on Linux/macOS). A semispace size given by the user
// (node --max-semi-space-size=N, or in NODE_OPTIONS) is left alone.
const V8_FLAGS = ['--max-semi-space-size=1', '--optimize-for-size']
const given = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].some(a => a.includes('--max-semi-space-size'))
// Native memory: glibc's malloc keeps one arena per thread that ever allocated (libuv's pool,
// V8's helpers), and memory freed in an arena is rarely given back; two arenas keep RSS close to
// what is in use after a burst (a value the user set is left alone).
const MALLOC_ENV = process.env.MALLOC_ARENA_MAX === undefined ? { MALLOC_ARENA_MAX: '2' } : {}
if (!given && typeof process.execve === 'function') {
  process.execve(process.execPath, [process.execPath, ...V8_FLAGS, ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], { ...process.env, ...MALLOC_ENV })
}

// Loading the program takes 1-3 s on a busy host, and until the CLI followed signals a SIGINT
// or SIGTERM took its default action: the process died of it (exit 130 or 143) instead of
// stopping cleanly (exit 0). It is noted here and followed by the CLI once it can (src/cli/main.ts),
// as one received during the start is.
function sidecarEarlySignal (signal) { globalThis.sidecarEarlySignal = signal }
process.once('SIGINT', sidecarEarlySignal)
process.once('SIGTERM', sidecarEarlySignal)

/**
 * In a checkout (src/ beside dist/: a package from npm ships no src/), the first source file
 * changed after dist/ was built (its cli/main.js written), if any: then dist/ is not the code
 * in front of the developer. About 170 stats, a few ms, and only in a checkout.
 */
function newerSource (src, built) {
  let entries
  try { entries = readdirSync(src, { recursive: true, withFileTypes: true }) } catch { return undefined } // no src/: an installed package
  const since = statSync(built).mtimeMs
  for (const e of entries) {
    const file = path.join(e.parentPath, e.name)
    if (e.isFile() && e.name.endsWith('.ts') && statSync(file, { throwIfNoEntry: false })?.mtimeMs > since) return file
  }
  return undefined
}

// SIDECAR_FROM_SOURCE=1 runs src/ even when dist/ exists (the tests do, so a stale build cannot mislead them).
// A dist/ older than src/ (edited, or another branch checked out, since `npm ci` or `npm run build`)
// is passed over for src/ too, with a line that says so: before, it ran the old code silently.
const dist = new URL('../dist/cli/main.js', import.meta.url)
const src = fileURLToPath(new URL('../src', import.meta.url))
let fromDist = existsSync(dist) && process.env.SIDECAR_FROM_SOURCE !== '1'
const newer = fromDist ? newerSource(src, fileURLToPath(dist)) : undefined
if (newer !== undefined) {
  fromDist = false
  process.stderr.write(`sidecar: dist/ is older than src/ (${path.relative(path.dirname(src), newer)} changed since the build): running src/; \`npm run build\` updates dist/.\n`)
}
const { run } = fromDist ? await import(dist.href) : await import(new URL('../src/cli/main.ts', import.meta.url).href)
run()
