// What the API shows of checks: no password, token or command-line argument.
import test from 'ava'
import { redactCheckArgs, redactCommand, redactText } from '../../../src/lib/redact.ts'
import { prng } from '../../helpers/prng.ts'

test('redact: a URL keeps its user but loses its password, visibly', t => {
  t.is(redactText('http://user:pa55w0rd@10.0.0.1:8080/health'), 'http://user:***@10.0.0.1:8080/health')
  t.is(redactText('HTTP 500 from https://admin:x%40y@db.example/x'), 'HTTP 500 from https://admin:***@db.example/x')
})

test('redact: a user part alone is masked too (https://TOKEN@host)', t => {
  t.is(redactText('https://ghp_abcdef@github.example/'), 'https://***@github.example/')
})

test('redact: secret-looking query values are masked, the others kept', t => {
  t.is(redactText('http://h/health?token=abc&verbose=1&api_key=k1&Password=p'), 'http://h/health?token=***&verbose=1&api_key=***&Password=***')
})

test('redact: bearer and basic values in text are masked', t => {
  t.is(redactText('sent Authorization: Bearer eyJhbGciOi.xyz'), 'sent Authorization: Bearer ***')
  t.is(redactText('Basic dXNlcjpwYXNz'), 'Basic ***')
})

test('redact: text without secrets is unchanged', t => {
  const s = 'connect ECONNREFUSED 127.0.0.1:8080 (http://127.0.0.1:8080/version)'
  t.is(redactText(s), s)
})

test('redact: a command line shows its program only', t => {
  t.is(redactCommand('curl -fsu admin:hunter2 http://localhost/health'), 'curl *** (arguments hidden, 47 characters)')
  t.is(redactCommand('PGPASSWORD=hunter2 pg_isready -h db'), 'PGPASSWORD=*** *** (arguments hidden, 35 characters)')
  t.is(redactCommand('/bin/true'), '/bin/true')
  t.is(redactCommand('http://u:p@h/x'), 'http://u:***@h/x')
  t.is(redactCommand(''), '')
})

test('redact: check args by type', t => {
  t.is(redactCheckArgs('HttpGet', 'http://u:p@h:1/x?secret=s'), 'http://u:***@h:1/x?secret=***')
  t.is(redactCheckArgs('TcpConnect', '10.0.0.1:5432'), '10.0.0.1:5432')
  t.is(redactCheckArgs('External', 'check --password hunter2'), 'check *** (arguments hidden, 24 characters)')
  t.is(redactCheckArgs('DockerExec', '0123456789ab check --password hunter2'), '0123456789ab check *** (arguments hidden, 24 characters)')
})

test('redactText: a header value after a secret query value (an echo of a request) is masked too', t => {
  t.is(redactText('{"url":"/hook?token=t0k","authorization":"Basic aG9vazpzM2NyZXQ="}'), '{"url":"/hook?token=*** ***"}')
})

test('redact: a password holding a raw "@" is masked whole, up to the last "@" before the host', t => {
  t.is(redactText('http://admin:hunter2@Secret!@127.0.0.9:1/x'), 'http://admin:***@127.0.0.9:1/x')
  t.is(redactCheckArgs('HttpGet', 'http://admin:a@b@c@h:1/x?token=t'), 'http://admin:***@h:1/x?token=***')
  // in a message, a URL without a path, followed by a space or the end of the text
  t.is(redactText('GET http://u:p@ss@h:8080 failed: connect ECONNREFUSED'), 'GET http://u:***@h:8080 failed: connect ECONNREFUSED')
  t.is(redactText('webhook https://u:p@ss@hooks.example'), 'webhook https://u:***@hooks.example')
  t.is(redactCommand('http://u:p@ss@h/x'), 'http://u:***@h/x')
})

test('redact: a user part alone holding a raw "@" is masked whole', t => {
  t.is(redactText('https://tok@en@github.example/'), 'https://***@github.example/')
})

test('redact: two URLs in one text are masked each, neither eating the other', t => {
  t.is(redactText('http://a:x@y@h1/p and http://b:z@w@h2/q'), 'http://a:***@h1/p and http://b:***@h2/q')
})

test('redact: the shown part of a password is never the text after an "@" in it', t => {
  const shown = redactText('{"args":"http://admin:hunter2@Secret!@127.0.0.9:1/x"}')
  t.false(shown.includes('hunter2'))
  t.false(shown.includes('Secret!'))
})

// The text is a container's label (a check's args, 4 KiB at most), a check's error (a redirect's
// Location, up to 16 KiB) or a webhook receiver's answer (64 KiB read): whoever chose it must not
// hold the event loop. Before, the query rule's regular expression backtracked in cubic time
// (4 KiB of "?key": 3.6 s; 16 KiB: minutes) and the userinfo one in quadratic time.
test('redact: 64 KiB built to make a backtracking matcher take for ever are masked at once', t => {
  const hostile = {
    '?key': '?key'.repeat(16_384),
    '&token;': '&token;'.repeat(9_362),
    'a.': 'a.'.repeat(32_768),
    'a://': 'a://'.repeat(16_384),
    'x://@': `x://${'@'.repeat(65_532)}`,
  }
  for (const [what, text] of Object.entries(hostile)) {
    const started = performance.now()
    const out = redactText(text)
    const ms = performance.now() - started
    // generous for a loaded machine: linear work on 64 KiB is a few milliseconds
    t.true(ms < 2000, `${what} x ${text.length / what.length}: ${ms.toFixed(0)} ms`)
    t.is(typeof out, 'string')
  }
  t.is(redactText('?key'.repeat(3) + '=v'), '?key?key?key=***', 'and still masks')
})

test('redact: the text is masked exactly as the regular expressions did, on 50,000 random strings of URL parts', t => {
  // the rules as they were written before the hand scan (their output is the reference; their time is not)
  const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#]*)@/gi
  const SECRET_QUERY = /([?&;][^=&#\s]*(?:token|key|secret|pass|pwd|auth|sig|credential|session)[^=&#\s]*=)[^&#\s]*/gi
  const AUTH_SCHEME = /\b(bearer|basic|token)(\s+)[A-Za-z0-9._~+/=-]{4,}/gi
  const userinfo = (_m: string, scheme: string, info: string): string => info.includes(':') ? `${scheme}${info.slice(0, info.indexOf(':'))}:***@` : `${scheme}***@`
  const reference = (text: string): string => text.replace(AUTH_SCHEME, '$1$2***').replace(USERINFO, userinfo).replace(SECRET_QUERY, '$1***')
  const pieces = ['a', 'B', '1', '_', '.', '+', '-', ':', '/', '//', '://', '@', '?', '&', ';', '=', '#', ' ', '\n', 'key', 'Token', 'pass', 'http', 'x:y', 'é', 'basic ', 'sig']
  const random = prng(7)
  const pick = (n: number): number => Math.floor(random() * n)
  const differ: string[] = []
  for (let i = 0; i < 50_000; i++) {
    let text = ''
    for (let n = 1 + pick(14); n > 0; n--) text += pieces[pick(pieces.length)]
    if (redactText(text) !== reference(text)) differ.push(text)
  }
  t.deepEqual(differ.slice(0, 5), [], `${differ.length} strings masked otherwise`)
})
