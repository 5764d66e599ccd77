// What the API shows of checks: no password, token or command-line argument.
import test from 'ava'
import { redactCheckArgs, redactCommand, redactText } from '../../../src/lib/redact.ts'

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
