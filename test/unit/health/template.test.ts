// HealthCheckArgs templates (src/health/template.ts): the fields a template may name, and the
// message for one it may not, which names every action that works.
import test from 'ava'
import { renderCheckArgs, TemplateError } from '../../../src/health/template.ts'
import { makeService } from '../../../src/service/index.ts'
import { prng } from '../../helpers/prng.ts'

const svc = makeService({ ID: 'abc123', Name: 'web', Hostname: 'host-a', Image: 'web:1', ProxyMode: 'tcp', Ports: [{ Type: 'tcp', Port: 32768, ServicePort: 8080, IP: '10.0.0.1' }] })

test('template: every documented field fills in', t => {
  t.is(renderCheckArgs('{{ .ID }} {{ .Name }} {{ .Image }} {{ .Hostname }} {{ .ProxyMode }} {{ host }}:{{ tcp 8080 }}', svc, { host: '10.0.0.1' }), 'abc123 web web:1 host-a tcp 10.0.0.1:32768')
})

test('template: an unknown action is an error that names every action that works, .ProxyMode included', t => {
  const err = t.throws(() => renderCheckArgs('http://{{ .Mode }}/', svc, { host: '10.0.0.1' }), { instanceOf: TemplateError })
  t.is(err?.message, '{{ .Mode }}: unknown template action; use host, container, tcp N, udp N or .Name/.ID/.Image/.Hostname/.ProxyMode')
})

// HealthCheckArgs come from a container's label (4,096 characters at most), rendered at each
// inspect of the container. Before, the action's regular expression backtracked in cubic time:
// "{{" and 4,094 spaces held the event loop 48 s.
test('template: 4 KiB built to make a backtracking matcher take for ever render at once', t => {
  const hostile = {
    'an open action and spaces': `{{${' '.repeat(4094)}`,
    'open actions': '{{'.repeat(2048),
    'open actions and spaces': `{{${' '.repeat(30)}`.repeat(128),
    'trim markers': '{{- '.repeat(1024),
  }
  for (const [what, args] of Object.entries(hostile)) {
    const started = performance.now()
    t.is(renderCheckArgs(args, svc, { host: '10.0.0.1' }), args, `${what}: nothing closes an action, the text stays`)
    const ms = performance.now() - started
    t.true(ms < 2000, `${what}: ${ms.toFixed(0)} ms`) // generous for a loaded machine: the scan takes well under 1 ms
  }
  t.is(renderCheckArgs(`{{${' '.repeat(4000)}.Name }}`, svc, { host: '10.0.0.1' }), 'web', 'and an action after many spaces is still filled')
})

test('template: actions are found and read exactly as the regular expression did, on 100,000 random strings', t => {
  // the rule before the scan: its matches are the reference, not its time
  const ACTION = /\{\{-?\s*(.*?)\s*-?\}\}/g
  // each action's body comes back in brackets, so bounds and bodies are both compared
  const reference = (args: string): string => args.replace(ACTION, (_all, body: string) => `[${body.split(/\s+/).filter(w => w !== '').join(' ')}]`)
  const scanned = (args: string): string => {
    const echo = makeService({ ID: 'x', Name: 'n', Hostname: 'h' })
    try {
      return renderCheckArgs(args, echo, { host: 'H' })
    } catch (err) {
      return err instanceof TemplateError ? `error ${err.message.slice(0, err.message.indexOf(' }}:') + 3)}` : String(err)
    }
  }
  const first = (args: string): string => {
    // the reference's verdict in the scanner's terms: [.Name] renders, any other body is an error naming it
    let firstError: string | undefined
    const out = args.replace(ACTION, (_all, body: string) => {
      const words = body.split(/\s+/).filter(w => w !== '')
      if (words.length === 1 && words[0] === '.Name') return 'n'
      firstError ??= `error {{ ${body} }}`
      return ''
    })
    return firstError ?? out
  }
  const pieces = ['{{', '}}', '{', '}', '-', ' ', '\n', '\r', '\t', '.Name', 'a', 'x y', '\u2028', '\u00a0', '{{-', '-}}', '{{ ', ' }}']
  const random = prng(11)
  const differ: string[] = []
  for (let i = 0; i < 100_000; i++) {
    let args = ''
    for (let n = 1 + Math.floor(random() * 10); n > 0; n--) args += pieces[Math.floor(random() * pieces.length)]
    if (scanned(args) !== first(args)) differ.push(JSON.stringify(args))
  }
  t.deepEqual(differ.slice(0, 5), [], `${differ.length} strings read otherwise`)
  t.is(reference('a{{- .Name -}}b{{x\ny}}'), 'a[.Name]b{{x\ny}}', 'the reference itself: trim markers, and no line end in a body')
})
