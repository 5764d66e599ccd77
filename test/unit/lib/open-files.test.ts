import test from 'ava'
import { openFileLimit } from '../../../src/lib/open-files.ts'

const LIMITS = (soft: string, hard: string): string => [
  'Limit                     Soft Limit           Hard Limit           Units     ',
  'Max cpu time              unlimited            unlimited            seconds   ',
  `Max open files            ${soft.padEnd(21)}${hard.padEnd(21)}files     `,
  'Max locked memory         8388608              8388608              bytes     ',
].join('\n')

test('openFileLimit: the soft "Max open files" of /proc/self/limits', t => {
  t.is(openFileLimit(LIMITS('1024', '524288')), 1024)
  t.is(openFileLimit(LIMITS('unlimited', 'unlimited')), undefined)
  t.is(openFileLimit('Limit Soft Limit\nMax processes 100 100 processes'), undefined)
  t.is(openFileLimit(''), undefined)
})

test('openFileLimit: this process\'s limit, read from /proc on Linux', t => {
  const n = openFileLimit()
  if (process.platform !== 'linux') { t.is(n, undefined); return }
  t.true(n === undefined || (Number.isInteger(n) && n > 0))
})
