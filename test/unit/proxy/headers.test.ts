import test from 'ava'
import { requestHead, responseHeaderObject, responseHeaders } from '../../../src/proxy/headers.ts'

test('requestHead: hop-by-hop headers dropped, X-Forwarded-* added, Host and the rest kept in order', t => {
  const head = requestHead(['Host', 'svc:8080', 'Connection', 'keep-alive, X-Private', 'X-Private', 'secret', 'Keep-Alive', 'timeout=5', 'Accept', '*/*', 'TE', 'trailers', 'Upgrade', 'h2c'], '10.0.0.9')
  t.deepEqual(head.headers, ['Host', 'svc:8080', 'Accept', '*/*', 'X-Forwarded-For', '10.0.0.9', 'X-Forwarded-Proto', 'http', 'X-Forwarded-Host', 'svc:8080'])
  t.false(head.hasBody)
})

test('requestHead: an existing X-Forwarded-For is appended to; existing proto and host are kept', t => {
  const head = requestHead(['X-Forwarded-For', '1.2.3.4', 'x-forwarded-for', '5.6.7.8', 'X-Forwarded-Proto', 'https', 'X-Forwarded-Host', 'public.example', 'Host', 'inner'], '10.0.0.9')
  t.deepEqual(head.headers, ['X-Forwarded-Proto', 'https', 'X-Forwarded-Host', 'public.example', 'Host', 'inner', 'X-Forwarded-For', '1.2.3.4, 5.6.7.8, 10.0.0.9'])
})

test('requestHead: a body is a non-zero Content-Length or any Transfer-Encoding (kept for framing)', t => {
  t.true(requestHead(['Content-Length', '12'], 'c').hasBody)
  t.true(requestHead(['Transfer-Encoding', 'chunked'], 'c').hasBody)
  t.deepEqual(requestHead(['Transfer-Encoding', 'chunked'], 'c').headers.slice(0, 2), ['Transfer-Encoding', 'chunked'])
  const empty = requestHead(['Content-Length', '0', 'Expect', '100-continue'], 'c')
  t.false(empty.hasBody)
  t.deepEqual(empty.headers, ['X-Forwarded-For', 'c', 'X-Forwarded-Proto', 'http'], 'an empty body states nothing; Expect without a body is dropped')
  t.deepEqual(requestHead(['Content-Length', '5', 'Expect', '100-continue'], 'c').headers.slice(0, 4), ['Content-Length', '5', 'Expect', '100-continue'])
})

test('responseHeaders: hop-by-hop and Transfer-Encoding dropped (the server frames each response), others kept', t => {
  t.deepEqual(responseHeaders(['Content-Type', 'text/plain', 'Transfer-Encoding', 'chunked', 'Connection', 'keep-alive', 'Keep-Alive', 'timeout=5', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2']),
    ['Content-Type', 'text/plain', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2'])
  t.deepEqual(responseHeaders(['Connection', 'X-Internal', 'X-Internal', '1', 'X-Public', '2']), ['X-Public', '2'])
  t.deepEqual(responseHeaderObject({ 'content-type': 'a', connection: 'x-internal, close', 'x-internal': '1', 'keep-alive': 'timeout=5', 'transfer-encoding': 'chunked' }), { 'content-type': 'a' })
})
