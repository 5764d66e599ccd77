// `promtool check metrics` (Debian's prometheus package; .ci/run installs it) on a /metrics page.
import { spawn, spawnSync } from 'node:child_process'

/** Whether promtool can be run here. */
export const HAVE_PROMTOOL = spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status === 0

/** promtool's verdict on text: its exit code and what it printed (nothing when it finds no problem). */
export async function promtool (text: string): Promise<{ code: number | null, output: string }> {
  return await new Promise((resolve, reject) => {
    const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (c: Buffer) => { output += c.toString() })
    child.stderr.on('data', (c: Buffer) => { output += c.toString() })
    child.on('error', reject)
    child.on('close', (code) => { resolve({ code, output }) })
    child.stdin.end(text)
  })
}
