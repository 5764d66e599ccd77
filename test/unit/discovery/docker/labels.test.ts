import test from 'ava'
import type { ContainerView } from '../../../../src/discovery/docker/container.ts'
import { toDiscovered, type LabelContext, type Verdict } from '../../../../src/discovery/docker/labels.ts'
import { regexNamer } from '../../../../src/discovery/docker/namer.ts'
import type { Discovered } from '../../../../src/discovery/types.ts'
import { tcpConnect } from '../../../../src/health/checks.ts'
import { cidrList } from '../../../../src/lib/backend-ips.ts'
import { decodeService, encodeService, RECORD_LIMITS } from '../../../../src/service/codec.ts'
import { CTX, makeView } from './helpers.ts'

function service (v: Verdict): Discovered {
  if (v.kind !== 'service') throw new Error(`expected a service, got ${JSON.stringify(v)}`)
  return v.discovered
}

function problems (v: Verdict): string {
  if (v.kind !== 'invalid') throw new Error(`expected invalid, got ${v.kind}`)
  return v.problems.join(' | ')
}

test('labels: ID is the first 12 characters of the container id; Image, Created and this host\'s name are carried', t => {
  const view = makeView()
  const d = service(toDiscovered(view, CTX))
  t.is(d.service.ID, view.id.slice(0, 12))
  t.is(d.service.Image, 'nginx:1.27')
  t.is(d.service.Created.toString(), '2024-05-01T09:00:00.123456789Z')
  t.is(d.service.Hostname, 'host1')
  t.is(d.container, 'web-1')
})

test('labels: ServicePort_<containerPort> maps the published port; Port is the host port and IP the bound IP', t => {
  const d = service(toDiscovered(makeView(), CTX))
  t.deepEqual(d.service.Ports, [{ Type: 'tcp', Port: 32768, ServicePort: 8080, IP: '127.0.2.9' }])
})

test('labels: a port bound to every address gets the advertise IP, and its 0.0.0.0 and :: bindings are one port', t => {
  const view = makeView({
    ports: [
      { containerPort: 80, type: 'tcp', hostIp: '0.0.0.0', hostPort: 49153 },
      { containerPort: 80, type: 'tcp', hostIp: '::', hostPort: 49153 },
      { containerPort: 53, type: 'udp', hostIp: '', hostPort: 49154 },
    ],
    labels: { ServiceName: 'dns', ServicePort_80: '8080', ServicePort_53: '53' },
  })
  t.deepEqual(service(toDiscovered(view, CTX)).service.Ports, [
    { Type: 'tcp', Port: 49153, ServicePort: 8080, IP: '10.0.0.5' },
    { Type: 'udp', Port: 49154, ServicePort: 53, IP: '10.0.0.5' },
  ])
})

test('labels: only published ports count; a published port without a ServicePort label has ServicePort 0', t => {
  const view = makeView({ labels: { ServiceName: 'web', ServicePort_9999: '9999' } }) // 9999 is not published
  t.deepEqual(service(toDiscovered(view, CTX)).service.Ports, [{ Type: 'tcp', Port: 32768, ServicePort: 0, IP: '127.0.2.9' }])
})

test('labels: ProxyMode defaults to http and takes tcp or ws', t => {
  t.is(service(toDiscovered(makeView(), CTX)).service.ProxyMode, 'http')
  t.is(service(toDiscovered(makeView({ labels: { ServiceName: 'a', ProxyMode: 'tcp' } }), CTX)).service.ProxyMode, 'tcp')
  t.is(service(toDiscovered(makeView({ labels: { ServiceName: 'a', ProxyMode: 'ws' } }), CTX)).service.ProxyMode, 'ws')
})

test('labels: SidecarDiscover=false hides the container; other values do not', t => {
  t.is(toDiscovered(makeView({ labels: { ServiceName: 'a', SidecarDiscover: 'false' } }), CTX).kind, 'hidden')
  t.is(toDiscovered(makeView({ labels: { ServiceName: 'a', SidecarDiscover: 'true' } }), CTX).kind, 'service')
})

test('labels: the name comes from the namer; without ServiceName it is the image', t => {
  t.is(service(toDiscovered(makeView({ labels: {} }), CTX)).service.Name, 'nginx:1.27')
  const regex = { ...CTX, namer: regexNamer('^/(.+)(-[0-9a-z]{7,14})$') }
  t.is(service(toDiscovered(makeView({ name: '/awesome-svc-1231b1b12323' }), regex)).service.Name, 'awesome-svc')
})

test('labels: HealthCheck with templated HealthCheckArgs is rendered with host, tcp N and container', t => {
  const view = makeView({ labels: { ServiceName: 'web', ServicePort_80: '8080', HealthCheck: 'HttpGet', HealthCheckArgs: 'http://{{ host }}:{{ tcp 8080 }}/{{ container }}' } })
  t.deepEqual(service(toDiscovered(view, CTX)).check, { type: 'HttpGet', args: 'http://10.0.0.5:32768/web-1', reach: ['127.0.2.9:32768'] })
})

test('labels: an HttpGet or TcpConnect label may reach only the container\'s published TCP ports, at their bound address', t => {
  const view = makeView({
    ports: [
      { containerPort: 80, type: 'tcp', hostIp: '0.0.0.0', hostPort: 8080 },
      { containerPort: 80, type: 'tcp', hostIp: '::', hostPort: 8080 },
      { containerPort: 443, type: 'tcp', hostIp: '127.0.2.9', hostPort: 8443 },
      { containerPort: 53, type: 'udp', hostIp: '0.0.0.0', hostPort: 5353 },
    ],
    labels: { ServiceName: 'web', HealthCheck: 'TcpConnect', HealthCheckArgs: '{{ host }}:8080' },
  })
  // Bound to every address: the advertise IP and loopback reach it; bound to one: that one only; UDP: none.
  t.deepEqual(service(toDiscovered(view, CTX)).check, { type: 'TcpConnect', args: '10.0.0.5:8080', reach: ['10.0.0.5:8080', '127.0.0.1:8080', '::1:8080', 'localhost:8080', '127.0.2.9:8443'] })
  const http = makeView({ ports: [], labels: { ServiceName: 'web', HealthCheck: 'HttpGet', HealthCheckArgs: 'http://169.254.169.254/latest/meta-data/' } })
  t.deepEqual(service(toDiscovered(http, CTX)).check?.reach, [], 'a container that publishes nothing may reach nothing')
  t.deepEqual(service(toDiscovered(http, { ...CTX, checkAnyTarget: true })).check, { type: 'HttpGet', args: 'http://169.254.169.254/latest/meta-data/' }, 'check_any_target: no bound')
  t.is(service(toDiscovered(makeView({ labels: { ServiceName: 'a', HealthCheck: 'AlwaysSuccessful' } }), CTX)).check?.reach, undefined, 'only checks that connect get one')
})

// Docker's "0.0.0.0" binding takes IPv4 only and its "::" binding IPv6 only (docker-proxy listens
// with IPV6_V6ONLY, dockerd 20.10): another process may hold the other family's address at the
// same port. Before, either counted as every address: 127.0.0.1, localhost, ::1 and the advertise IP.
test('labels: a port bound to every address of one family is reached on that family only', t => {
  const only = (hostIp: string): ContainerView => makeView({
    ports: [{ containerPort: 80, type: 'tcp', hostIp, hostPort: 8080 }],
    labels: { ServiceName: 'web', HealthCheck: 'TcpConnect', HealthCheckArgs: '127.0.0.1:8080' },
  })
  t.deepEqual(service(toDiscovered(only('0.0.0.0'), CTX)).check?.reach, ['10.0.0.5:8080', '127.0.0.1:8080'])
  t.deepEqual(service(toDiscovered(only('::'), CTX)).check?.reach, ['::1:8080'], 'not the IPv4 advertise IP either')
  t.deepEqual(service(toDiscovered(only('::'), { ...CTX, advertiseIp: 'fd00::5' })).check?.reach, ['fd00::5:8080', '::1:8080'])
  t.deepEqual(service(toDiscovered(only(''), CTX)).check?.reach, ['10.0.0.5:8080', '127.0.0.1:8080', '::1:8080', 'localhost:8080'], 'no address given: both')
})

test('labels: a check of a port published only on "::" at 127.0.0.1 fails with the reason, without connecting', async t => {
  const view = makeView({
    ports: [{ containerPort: 80, type: 'tcp', hostIp: '::', hostPort: 8080 }],
    labels: { ServiceName: 'web', HealthCheck: 'TcpConnect', HealthCheckArgs: '127.0.0.1:8080' },
  })
  const check = service(toDiscovered(view, CTX)).check
  const result = await tcpConnect(check?.args ?? '', AbortSignal.timeout(5000), new Set(check?.reach))
  t.deepEqual(result, { ok: false, error: '127.0.0.1:8080 is not checked: a check from a container\'s labels may reach only that container\'s published TCP ports: ::1:8080 ([docker_discovery] check_any_target = true lifts this)' })
})

test('labels: {{ udp N }} is the host port published for a UDP service port', t => {
  const view = makeView({
    ports: [{ containerPort: 53, type: 'udp', hostIp: '127.0.2.9', hostPort: 40053 }],
    labels: { ServiceName: 'dns', ServicePort_53: '53', HealthCheck: 'External', HealthCheckArgs: 'dig -p {{ udp 53 }} @{{ host }}' },
  })
  t.is(service(toDiscovered(view, CTX)).check?.args, `${view.id.slice(0, 12)} dig -p 40053 @10.0.0.5`)
})

test('labels: a template that cannot be filled makes the container invalid, naming the label', t => {
  const view = makeView({ labels: { ServiceName: 'web', ServicePort_80: '8080', HealthCheck: 'HttpGet', HealthCheckArgs: 'http://{{ host }}:{{ tcp 9999 }}/' } })
  t.regex(problems(toDiscovered(view, CTX)), /HealthCheckArgs=.*no tcp port with ServicePort 9999/)
})

test('labels: no HealthCheck label means the default check, or Docker\'s when the image has a HEALTHCHECK', t => {
  t.is(service(toDiscovered(makeView(), CTX)).check, undefined)
  const view = makeView({ hasHealthcheck: true })
  t.deepEqual(service(toDiscovered(view, CTX)).check, { type: 'Docker', args: view.id.slice(0, 12) })
})

test('labels: HealthCheck=Docker asks for Docker\'s health state, HEALTHCHECK or not', t => {
  const view = makeView({ labels: { ServiceName: 'a', HealthCheck: 'Docker' } })
  t.deepEqual(service(toDiscovered(view, CTX)).check, { type: 'Docker', args: view.id.slice(0, 12) })
})

test('labels: an explicit HealthCheck wins over an image HEALTHCHECK', t => {
  const view = makeView({ hasHealthcheck: true, labels: { ServiceName: 'a', HealthCheck: 'AlwaysSuccessful' } })
  t.deepEqual(service(toDiscovered(view, CTX)).check, { type: 'AlwaysSuccessful', args: '' })
})

test('labels: an unknown HealthCheck type, or HttpGet without args, is a bad label', t => {
  t.regex(problems(toDiscovered(makeView({ labels: { ServiceName: 'a', HealthCheck: 'Ping' } }), CTX)), /HealthCheck="Ping": unknown check type/)
  t.regex(problems(toDiscovered(makeView({ labels: { ServiceName: 'a', HealthCheck: 'HttpGet' } }), CTX)), /needs a HealthCheckArgs label/)
})

test('labels: SidecarListener names the published TCP port of that ServicePort', t => {
  const view = makeView({ labels: { ServiceName: 'web', ServicePort_80: '8080', SidecarListener: '8080' } })
  t.is(service(toDiscovered(view, CTX)).listenerUrl, 'http://127.0.2.9:32768/sidecar/update')
})

test('labels: a SidecarListener that is not a number or matches no TCP port is a bad label', t => {
  t.regex(problems(toDiscovered(makeView({ labels: { ServiceName: 'w', ServicePort_80: '8080', SidecarListener: 'yes' } }), CTX)), /SidecarListener="yes"/)
  t.regex(problems(toDiscovered(makeView({ labels: { ServiceName: 'w', ServicePort_80: '8080', SidecarListener: '9090' } }), CTX)), /no published TCP port has ServicePort 9090/)
})

test('labels: bad ServicePort labels and a bad ProxyMode are all reported at once', t => {
  const view = makeView({ labels: { ServiceName: 'w', ServicePort_80: 'eighty', ServicePort_http: '80', ServicePort_81: '70000', ProxyMode: 'udp' } })
  const text = problems(toDiscovered(view, CTX))
  t.regex(text, /ServicePort_80="eighty"/)
  t.regex(text, /ServicePort_http: "http" is not a container port/)
  t.regex(text, /ServicePort_81="70000"/)
  t.regex(text, /ProxyMode="udp": use one of http, tcp, ws/)
})

test('labels: a name longer than a DNS name is a bad label', t => {
  t.regex(problems(toDiscovered(makeView({ labels: { ServiceName: 'x'.repeat(300) } }), CTX)), /service name is 300 characters long/)
})

test('labels: HealthCheck=External is never a host command: it becomes DockerExec in that container', t => {
  const view = makeView({ labels: { ServiceName: 'x', HealthCheck: 'External', HealthCheckArgs: 'touch /tmp/pwned' } })
  const check = service(toDiscovered(view, CTX)).check
  t.is(check?.type, 'DockerExec')
  t.is(check?.args, `${view.id.slice(0, 12)} touch /tmp/pwned`)
})

test('labels: a HealthCheckArgs that cannot be filled is named without its secrets', t => {
  const url = makeView({ labels: { ServiceName: 'x', HealthCheck: 'HttpGet', HealthCheckArgs: 'http://u:pw123@{{ host }}:{{ tcp 9999 }}/' } })
  const cmd = makeView({ labels: { ServiceName: 'x', HealthCheck: 'External', HealthCheckArgs: 'check --password pw456 {{ tcp 9999 }}' } })
  for (const [view, secret] of [[url, 'pw123'], [cmd, 'pw456']] as const) {
    const v = toDiscovered(view, CTX)
    t.is(v.kind, 'invalid')
    if (v.kind === 'invalid') t.false(v.problems.join(' ').includes(secret), v.problems.join(' '))
  }
})

test('labels: an sctp port is left out with a warning; the service keeps its tcp and udp ports and its record encodes', t => {
  const view = makeView({
    labels: { ServiceName: 'web', ServicePort_80: '8080', ServicePort_9: '9999' },
    ports: [
      { containerPort: 80, type: 'tcp', hostIp: '10.0.0.5', hostPort: 32768 },
      { containerPort: 9, type: 'sctp', hostIp: '10.0.0.5', hostPort: 32769 },
      { containerPort: 53, type: 'udp', hostIp: '10.0.0.5', hostPort: 32770 },
    ],
  })
  const v = toDiscovered(view, CTX)
  const d = service(v)
  t.deepEqual(d.service.Ports?.map(p => `${p.Port}/${p.Type}`), ['32768/tcp', '32770/udp'])
  t.deepEqual(v.kind === 'service' ? v.warnings : undefined, ['port 9/sctp left out: only tcp and udp ports can be announced'])
  t.deepEqual(decodeService(JSON.parse(encodeService(d.service))).Ports, d.service.Ports, 'peers accept the record')
})

test('labels: more published ports than a record carries are capped, labelled ports first, with one warning', t => {
  const many = RECORD_LIMITS.maxPorts + 44
  const ports = Array.from({ length: many }, (_, i) => ({ containerPort: 1000 + i, type: 'tcp', hostIp: '10.0.0.5', hostPort: 20_000 + i }))
  const view = makeView({ labels: { ServiceName: 'web', [`ServicePort_${1000 + many - 1}`]: '8080' }, ports })
  const v = toDiscovered(view, CTX)
  const d = service(v)
  t.is(d.service.Ports?.length, RECORD_LIMITS.maxPorts)
  t.like(d.service.Ports?.[0], { Port: 20_000 + many - 1, ServicePort: 8080 }, 'the labelled port, last in Docker\'s order, is kept')
  t.deepEqual(v.kind === 'service' ? v.warnings : undefined, [`${many} published ports, at most ${RECORD_LIMITS.maxPorts} can be announced: 44 left out (ports with a ServicePort label are kept first)`])
  t.notThrows(() => decodeService(JSON.parse(encodeService(d.service))))
})

test('labels: a check may reach only the ports the record announces, however many the container publishes', t => {
  // 20,000 ports, each bound to 0.0.0.0 and ::: before, the check's reach held all 80,000 addresses
  const ports = Array.from({ length: 20_000 }, (_, i) => [
    { containerPort: 1000 + i, type: 'tcp', hostIp: '0.0.0.0', hostPort: 20_000 + i },
    { containerPort: 1000 + i, type: 'tcp', hostIp: '::', hostPort: 20_000 + i },
  ]).flat()
  const view = makeView({ labels: { ServiceName: 'web', ServicePort_20999: '8080', HealthCheck: 'HttpGet', HealthCheckArgs: 'http://{{ host }}:{{ tcp 8080 }}/health' }, ports })
  const d = service(toDiscovered(view, CTX))
  const reach = d.check?.reach ?? []
  t.is(d.check?.args, 'http://10.0.0.5:39999/health')
  t.is(reach.length, RECORD_LIMITS.maxPorts * 4, 'each announced port at the advertise IP, 127.0.0.1, localhost and ::1')
  t.true(reach.includes('10.0.0.5:39999'), 'the labelled port, announced first')
  t.true(reach.includes('127.0.0.1:20000'), 'an announced port without a label')
  t.false(reach.includes('10.0.0.5:39998'), 'a port left out of the record is not checked')
  const byNumber = (a: number, b: number): number => a - b
  t.deepEqual([...new Set(reach.map(r => Number(r.slice(r.lastIndexOf(':') + 1))))].sort(byNumber), d.service.Ports?.map(p => p.Port).sort(byNumber))
})

test('labels: a container whose ports all fit has no warnings', t => {
  const v = toDiscovered(makeView({ ports: [{ containerPort: 80, type: 'tcp', hostIp: '0.0.0.0', hostPort: 32768 }] }), CTX)
  t.is(v.kind === 'service' ? v.warnings : 'x', undefined)
})

test('labels: a port published on an address peers refuse (not the advertise IP, not in backend_cidrs) is announced with one warning naming the address and the fix', t => {
  const view = (hostIp: string): ContainerView => makeView({ ports: [{ containerPort: 80, type: 'tcp', hostIp, hostPort: 32768 }, { containerPort: 81, type: 'tcp', hostIp, hostPort: 32769 }] })
  const warned = (hostIp: string, ctx: LabelContext = CTX): readonly string[] | undefined => { const v = toDiscovered(view(hostIp), ctx); return v.kind === 'service' ? v.warnings : ['not a service'] }
  t.deepEqual(warned('127.0.0.1'), ['published on 127.0.0.1: neither this host\'s advertised address (10.0.0.5) nor inside [sidecar] backend_cidrs, so every peer refuses this container\'s record (admission reason backend-ip) and only this host lists it; publish the port on 10.0.0.5 or on every address (127.0.0.1: loopback, link-local or unspecified, which backend_cidrs never admits)'])
  t.deepEqual(warned('192.168.7.7'), ['published on 192.168.7.7: neither this host\'s advertised address (10.0.0.5) nor inside [sidecar] backend_cidrs, so every peer refuses this container\'s record (admission reason backend-ip) and only this host lists it; publish the port on 10.0.0.5 or on every address, or add the network of 192.168.7.7 to [sidecar] backend_cidrs'])
  const withCidrs = { ...CTX, allowedBackends: cidrList(['192.168.0.0/16', '127.0.0.0/8']) }
  t.is(warned('192.168.7.7', withCidrs), undefined, 'inside backend_cidrs: peers admit it')
  t.regex(warned('127.0.0.1', withCidrs)?.[0] ?? '', /backend_cidrs never admits/, 'loopback: never, whatever backend_cidrs says')
  t.is(warned('10.0.0.5'), undefined)
  t.is(warned('0.0.0.0'), undefined, 'every address: announced as the advertise IP')
})

test('labels: a port Docker binds on one family only (-p [::]:P:80 is IPv6 alone) whose family the advertise IP is not is announced with one warning naming the port and the fix', t => {
  const warned = (bindings: Array<[string, number]>, ctx: LabelContext = CTX): readonly string[] | undefined => {
    const v = toDiscovered(makeView({ ports: bindings.map(([hostIp, hostPort]) => ({ containerPort: hostPort - 32000, type: 'tcp' as const, hostIp, hostPort })) }), ctx)
    return v.kind === 'service' ? v.warnings : ['not a service']
  }
  t.deepEqual(warned([['::', 32768]]), ['port 32768/tcp published on :: (IPv6) only, which this host\'s advertised address 10.0.0.5 is not: peers reach nothing there; publish on every address (-p 8080:80) or on 0.0.0.0'])
  t.is(warned([['0.0.0.0', 32768], ['::', 32768]]), undefined, 'both families (what -p 32768:80 makes): reachable')
  t.is(warned([['0.0.0.0', 32768]]), undefined, 'IPv4 only, advertised on IPv4')
  t.is(warned([['', 32768]]), undefined, 'no address: every address')
  const v6 = { ...CTX, advertiseIp: 'fd00::5' }
  t.regex(warned([['0.0.0.0', 32768], ['0.0.0.0', 32769]], v6)?.[0] ?? '', /^ports 32768\/tcp, 32769\/tcp published on 0\.0\.0\.0 \(IPv4\) only, which this host's advertised address fd00::5 is not/)
  t.is(warned([['::', 32768]], v6), undefined, 'IPv6 only, advertised on IPv6')
})

test('labels: megabyte labels and thousands of bad ones give a short message that still names the labels and the fix', t => {
  const big = 'x'.repeat(1 << 20)
  const many: Record<string, string> = {}
  for (let i = 1; i <= 3000; i++) many[`ServicePort_${i}`] = `bad${i}`
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ['a 1 MB service port', { ServicePort_80: big }, /^label ServicePort_80="x{64}"\.\.\. \(1048576 characters\): the service port must be a number/],
    ['a 1 MB container port', { [`ServicePort_${big}`]: '80' }, /^label ServicePort_x{52}\.\.\. \(1048588 characters\): "x{64}"\.\.\. \(1048576 characters\) is not a container port/],
    ['a 1 MB check type', { HealthCheck: big }, /^label HealthCheck="x{64}"\.\.\. \(1048576 characters\): unknown check type; use one of/],
    ['a 1 MB proxy mode', { ProxyMode: big }, /^label ProxyMode="x{64}"\.\.\. \(1048576 characters\): use one of http, tcp, ws/],
    ['a 1 MB listener', { SidecarListener: big }, /^label SidecarListener="x{64}"\.\.\. \(1048576 characters\): expected the ServicePort/],
    ['a 1 MB template', { HealthCheck: 'HttpGet', HealthCheckArgs: `http://{{ ${big} }}` }, /^label HealthCheckArgs is 1048589 characters long, at most 4096 allowed$/],
    ['a bad template near the cap', { HealthCheck: 'HttpGet', HealthCheckArgs: `http://{{ ${'y'.repeat(4000)} }}` }, /^label HealthCheckArgs="http:\/\/\{\{ y{54}"\.\.\. \(4013 characters\): \{\{ y+\.\.\. \(\d+ characters\)$/],
    ['3000 bad service ports', many, /^(label ServicePort_\d+="bad\d+": the service port must be a number from 0 to 65535 \| ){5}and 2995 more problems$/],
  ]
  for (const [what, labels, expected] of cases) {
    const text = problems(toDiscovered(makeView({ labels: { ServiceName: 'web', ...labels } }), CTX))
    t.regex(text, expected, what)
    t.true(text.length < 1000, `${what}: ${text.length} characters`)
  }
})

test('labels: two ServicePort_ labels for one container port (80 and 080) skip the container, naming both', t => {
  const text = problems(toDiscovered(makeView({ labels: { ServiceName: 'web', ServicePort_80: '8080', ServicePort_080: '9090' } }), CTX))
  t.is(text, 'labels ServicePort_80 and ServicePort_080 both name container port 80: keep one')
})
