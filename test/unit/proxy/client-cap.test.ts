import test from 'ava'
import { ClientCap } from '../../../src/proxy/client-cap.ts'

test('ClientCap: takes places up to its limit; a released place can be taken again', t => {
  const cap = new ClientCap(2)
  t.true(cap.take())
  t.true(cap.take())
  t.false(cap.take(), 'the third is over the cap')
  t.is(cap.open, 2)
  cap.release()
  t.is(cap.open, 1)
  t.true(cap.take(), 'a released place is free again')
  cap.release()
  cap.release()
  t.is(cap.open, 0)
})
