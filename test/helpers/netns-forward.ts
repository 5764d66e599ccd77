// Runs inside a test's hub network namespace (test/helpers/netns.ts): for each ip:port
// argument, listens on <dir>/<ip>.sock and relays every connection to ip:port, so the test
// in the root namespace reaches daemons that live in namespaces of their own.
import { rmSync } from 'node:fs'
import net from 'node:net'
import path from 'node:path'

const [dir, ...targets] = process.argv.slice(2)
for (const target of targets) {
  const [host, port] = target.split(':')
  const sock = path.join(dir, `${host}.sock`)
  rmSync(sock, { force: true })
  net.createServer(client => {
    const upstream = net.connect(Number(port), host)
    client.pipe(upstream).pipe(client)
    const close = (): void => { client.destroy(); upstream.destroy() }
    client.on('error', close)
    upstream.on('error', close)
  }).listen(sock)
}
// The test kills this process at teardown; never outlive a parent that died first.
setInterval(() => { if (process.ppid === 1) process.exit(0) }, 1000).unref()
