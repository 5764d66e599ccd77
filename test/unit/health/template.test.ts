// HealthCheckArgs templates (src/health/template.ts): the fields a template may name, and the
// message for one it may not, which names every action that works.
import test from 'ava'
import { renderCheckArgs, TemplateError } from '../../../src/health/template.ts'
import { makeService } from '../../../src/service/index.ts'

const svc = makeService({ ID: 'abc123', Name: 'web', Hostname: 'host-a', Image: 'web:1', ProxyMode: 'tcp', Ports: [{ Type: 'tcp', Port: 32768, ServicePort: 8080, IP: '10.0.0.1' }] })

test('template: every documented field fills in', t => {
  t.is(renderCheckArgs('{{ .ID }} {{ .Name }} {{ .Image }} {{ .Hostname }} {{ .ProxyMode }} {{ host }}:{{ tcp 8080 }}', svc, { host: '10.0.0.1' }), 'abc123 web web:1 host-a tcp 10.0.0.1:32768')
})

test('template: an unknown action is an error that names every action that works, .ProxyMode included', t => {
  const err = t.throws(() => renderCheckArgs('http://{{ .Mode }}/', svc, { host: '10.0.0.1' }), { instanceOf: TemplateError })
  t.is(err?.message, '{{ .Mode }}: unknown template action; use host, container, tcp N, udp N or .Name/.ID/.Image/.Hostname/.ProxyMode')
})
