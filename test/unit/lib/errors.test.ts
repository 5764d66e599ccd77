import test from 'ava'
import { errorMessage } from '../../../src/lib/errors.ts'

test('errorMessage: an Error\'s message, a thrown Event named by its type or its error, anything else as a string', t => {
  t.is(errorMessage(new Error('boom')), 'boom')
  const closed = new Event('close')
  t.regex(errorMessage(closed), /the stream ended \(a "close" event/)
  t.notRegex(errorMessage(closed), /object Event/)
  const aborted = Object.assign(new Event('abort'), { error: new Error('stream reset') })
  t.is(errorMessage(aborted), 'stream reset')
  t.is(errorMessage('plain'), 'plain')
  t.is(errorMessage(42), '42')
})
