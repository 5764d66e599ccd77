import test from 'ava'
import { escapeControls, plainLine } from '../../../src/lib/controls.ts'

test('controls: escapeControls leaves printable text and tabs alone, and writes every control as an escape', t => {
  t.is(escapeControls('web-1 ünïcode\ttab'), 'web-1 ünïcode\ttab')
  t.is(escapeControls('a\nb\rc\u0000d\u001b[31me\u007f\u009b\u2028\u2029'), 'a\\nb\\rc\\u0000d\\u001b[31me\\u007f\\u009b\\u2028\\u2029')
})

test('controls: plainLine keeps a line break, indenting what follows it', t => {
  t.is(plainLine('first\nsecond\u001b'), 'first\n    second\\u001b')
})
