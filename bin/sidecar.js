#!/usr/bin/env node
// Entry point. Checks the Node version first, so an old Node gets a clear message instead
// of a crash deep inside libp2p, then runs the compiled CLI (dist/), or the TypeScript
// sources directly in a checkout that has not been built.
import { existsSync } from 'node:fs'

const [major, minor] = process.versions.node.split('.').map(Number)
if (major < 22 || (major === 22 && minor < 20)) {
  process.stderr.write(`sidecar needs Node.js 22.20 or newer (24 recommended); this is ${process.version}.\n` +
    'In a checkout, `npm ci` installs Node 24 locally: run through `npm start` or `npx sidecar`.\n')
  process.exit(1)
}

// SIDECAR_FROM_SOURCE=1 runs src/ even when dist/ exists (the tests do, so a stale build cannot mislead them).
const dist = new URL('../dist/cli/main.js', import.meta.url)
const { run } = existsSync(dist) && process.env.SIDECAR_FROM_SOURCE !== '1' ? await import(dist.href) : await import(new URL('../src/cli/main.ts', import.meta.url).href)
run()
