// Where each key of a TOML text is, for messages: tables, dotted and quoted keys, and values
// that span lines or hold text that looks like a key.
import test from 'ava'
import { parse } from 'smol-toml'
import { TomlLines } from '../../../src/config/toml-lines.ts'

const TEXT = [
  '# a comment = with [brackets]', // 1
  'top = 1', // 2
  '[sidecar]', // 3
  'cluster_name = "x" # trailing = comment', // 4
  'notes = """', // 5
  'bind_port = 1', // 6: inside a string, not a key
  '[api]', // 7: inside a string, not a header
  '"""', // 8
  'seeds = [', // 9
  '  "a", # x = 1', // 10
  '  { port = 3 },', // 11
  ']', // 12
  'bind_port = 7946', // 13
  "lit = '''", // 14
  'site = 2', // 15
  "'''", // 16
  '  [ "api" ]', // 17
  '"port" = 1', // 18
  'a.b . "c" = 2', // 19
  'inline = { port = 5,', // 20: smol-toml takes a multi-line inline table (TOML 1.1)
  '  x = 6 }', // 21
  '[[listeners.webhook]]', // 22
  'url = "http://a/"', // 23
  '[[listeners.webhook]]', // 24
  '', // 25
  'url = \'http://b/\'', // 26
  'esc = "a\\"b = c"', // 27
  'health.rise = 3', // 28: a dotted key inside [[listeners.webhook]]
].join('\n')

test('toml lines: keys, headers and array-of-tables entries are found at their line, never inside a value', t => {
  t.notThrows(() => parse(TEXT.replace('inline = { port = 5,\n  x = 6 }', 'inline = { port = 5, x = 6 }')), 'the text is TOML (bar the multi-line inline table)')
  const l = new TomlLines(TEXT)
  t.is(l.lineOf(['top']), 2)
  t.is(l.lineOf(['sidecar']), 3)
  t.is(l.lineOf(['sidecar', 'cluster_name']), 4)
  t.is(l.lineOf(['sidecar', 'notes']), 5)
  t.is(l.lineOf(['sidecar', 'bind_port']), 13, 'not the look-alike inside the multi-line string')
  t.is(l.lineOf(['sidecar', 'seeds']), 9)
  t.is(l.lineOf(['sidecar', 'site']), 3, 'inside a literal multi-line string: not a key, so its table\'s line')
  t.is(l.lineOf(['api']), 17, 'not the look-alike header inside the string')
  t.is(l.lineOf(['api', 'port']), 18, 'a quoted key')
  t.is(l.lineOf(['api', 'a', 'b', 'c']), 19, 'a dotted key')
  t.is(l.lineOf(['api', 'a']), 19)
  t.is(l.lineOf(['api', 'inline', 'port']), 20, 'a key of an inline table: the line of the inline table')
  t.is(l.lineOf(['listeners', 'webhook']), 22)
  t.is(l.lineOf(['listeners', 'webhook', 0, 'url']), 23)
  t.is(l.lineOf(['listeners', 'webhook', 1]), 24)
  t.is(l.lineOf(['listeners', 'webhook', 1, 'url']), 26)
  t.is(l.lineOf(['listeners', 'webhook', 1, 'esc']), 27)
  t.is(l.lineOf(['listeners', 'webhook', 1, 'health', 'rise']), 28)
  t.is(l.lineOf(['listeners', 'webhook', 1, 'nothing']), 24, 'a key not written: its entry\'s header')
  t.is(l.lineOf(['nowhere']), undefined)
})

test('toml lines: CRLF line ends, and text it cannot follow gives no line rather than an error', t => {
  t.is(new TomlLines('[sidecar]\r\n\r\nbind_port = "x"\r\n').lineOf(['sidecar', 'bind_port']), 3)
  for (const junk of ['[', '[[', '"', '"""', 'a = [', 'a = {', '= 1', '\\', '\'\'\'']) t.notThrows(() => new TomlLines(junk).lineOf(['a']), junk)
})
