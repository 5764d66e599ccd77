// Go's path cleaning (reference §5.1) and the Location it leads to: always a path on this host.
import test from 'ava'
import { cleanPath, localLocation } from '../../../src/api/clean-path.ts'

test('cleanPath: empty, . and .. segments resolved as Go\'s cleanPath does, never above the root, a trailing slash kept', t => {
  const cases: Array<[string, string]> = [
    ['/', '/'],
    ['/services.json', '/services.json'],
    ['//services.json', '/services.json'],
    ['/api//services.json', '/api/services.json'],
    ['/api/./state.json', '/api/state.json'],
    ['/api/x/../services.json', '/api/services.json'],
    ['/../../etc/passwd', '/etc/passwd'],
    ['/ui/', '/ui/'],
    ['/ui/./', '/ui/'],
    ['/ui//', '/ui/'],
    ['/ui/..', '/'],
    ['/ui/x/..', '/ui'],
    ['/a/b/../', '/a/'],
    ['/api/%2e%2e/state.json', '/state.json'],
    ['/api/%2E/state.json', '/api/state.json'],
    ['/api/.%2e/x', '/x'],
    ['/api/...', '/api/...'],
    ['/api/%2f../x', '/api/%2f../x'],
    ['//evil.example/x', '/evil.example/x'],
    ['//', '/'],
  ]
  for (const [from, to] of cases) t.is(cleanPath(from), to, from)
})

test('localLocation: a backslash, which browsers read as a slash, is encoded, so /\\host is no scheme-relative URL', t => {
  t.is(localLocation('/\\evil.example/x', ''), '/%5Cevil.example/x')
  t.is(localLocation('/api/state.json', 'a=1&b=//x'), '/api/state.json?a=1&b=//x')
  t.is(new URL(localLocation(cleanPath('//\\evil.example/x'), ''), 'http://127.0.0.1:7777/').host, '127.0.0.1:7777')
})
