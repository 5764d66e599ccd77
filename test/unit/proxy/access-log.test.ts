import test from 'ava'
import { AccessLog, type AccessEntry } from '../../../src/proxy/access-log.ts'

const entry: AccessEntry = { service: 'web', port: 8080, backend: '10.0.0.7:31000', method: 'GET', path: '/a', status: 200, bytes: 12, durationMs: 1.2345, retries: 0, client: '127.0.0.1:5000' }

test('access log: text, one line per entry, even for a service a member named with a line break or an escape', t => {
  const lines: string[] = []
  const log = new AccessLog('text', line => { lines.push(line) })
  log.write(entry)
  log.write({ ...entry, service: 'web\n2026-12-04T16:00:00.000Z db:5432 10.0.0.1:1 -> 10.0.0.2:5432 "GET /" 200 0B 1ms retries=0\u001b[2J' })
  t.regex(lines[0], /^\d{4}-\d\d-\d\dT[\d:.]+Z web:8080 127\.0\.0\.1:5000 -> 10\.0\.0\.7:31000 "GET \/a" 200 12B 1\.235ms retries=0\n$/)
  t.is(lines[1].split('\n').length, 2, 'one line, then its end')
  t.true(lines[1].includes(' web\\n2026-12-04T16:00:00.000Z db:5432 10.0.0.1:1 -> 10.0.0.2:5432 "GET /" 200 0B 1ms retries=0\\u001b[2J:8080 '))
})

test('access log: json keeps the name whole, escaped by JSON', t => {
  const lines: string[] = []
  new AccessLog('json', line => { lines.push(line) }).write({ ...entry, service: 'a\nb' })
  t.is(lines[0].split('\n').length, 2)
  t.is((JSON.parse(lines[0]) as { service: string }).service, 'a\nb')
})
