import test from 'ava'
import { listeningOn } from '../../../src/api/server.ts'

test('listeningOn: an address is given as its URL, IPv6 in brackets', t => {
  t.is(listeningOn('127.0.0.2', 7777), 'http://127.0.0.2:7777')
  t.is(listeningOn('::1', 7777), 'http://[::1]:7777')
})

test('listeningOn: a wildcard address (the default bind_ip 0.0.0.0, ::) is no URL to open: the port, and a URL on this machine', t => {
  for (const host of ['0.0.0.0', '::', '0:0:0:0:0:0:0:0', '']) t.is(listeningOn(host, 7777), 'every address, port 7777 (on this machine: http://localhost:7777)', host)
})
