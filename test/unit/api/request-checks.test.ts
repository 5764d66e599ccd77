// The two refusals Node made in plain text, now the API's (request-checks.ts).
import test from 'ava'
import { requestVerdict } from '../../../src/api/request-checks.ts'

test('requestVerdict: HTTP/1.1 without Host is 400, HTTP/1.0 without Host is fine', t => {
  t.is(requestVerdict('1.1', '', undefined)?.status, 400)
  t.regex(requestVerdict('1.1', '', undefined)?.message ?? '', /must have a Host header/)
  t.is(requestVerdict('1.0', '', undefined), undefined)
  t.is(requestVerdict('1.1', 'x', undefined), undefined)
})

test('requestVerdict: an Expect other than 100-continue is 417 and named (cut to 100 characters); 100-continue is met', t => {
  t.is(requestVerdict('1.1', 'x', '100-continue'), undefined)
  t.is(requestVerdict('1.1', 'x', '100-Continue'), undefined)
  const v = requestVerdict('1.1', 'x', '200-ok')
  t.is(v?.status, 417)
  t.regex(v?.message ?? '', /not "200-ok"$/)
  t.true((requestVerdict('1.1', 'x', 'y'.repeat(10_000))?.message.length ?? 0) < 200)
})
