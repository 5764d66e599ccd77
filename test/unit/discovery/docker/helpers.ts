// Containers for the Docker discovery unit tests: recorded inspect answers from dockerd
// 20.10 (fixtures/), and a factory for views that state only what a test is about.
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type Docker from 'dockerode'
import type { ContainerView } from '../../../../src/discovery/docker/container.ts'
import { labelNamer } from '../../../../src/discovery/docker/namer.ts'
import type { LabelContext } from '../../../../src/discovery/docker/labels.ts'

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures')

/**
 * Recorded with `docker inspect` against dockerd 20.10.24:
 * web: labels ServiceName=web ServicePort_80=8080 HealthCheck=HttpGet
 *      HealthCheckArgs=http://{{ host }}:{{ tcp 8080 }}/health ProxyMode=ws SidecarListener=8080, -p 127.0.2.9:32768:80;
 * hc-starting / hc-unhealthy / hc-paused: ServicePort_80=9000, -p 127.0.2.9:32769:80, an image HEALTHCHECK.
 */
export function inspectFixture (name: 'web' | 'hc-starting' | 'hc-unhealthy' | 'hc-paused'): Docker.ContainerInspectInfo {
  return JSON.parse(readFileSync(path.join(FIXTURES, `inspect-${name}.json`), 'utf8')) as Docker.ContainerInspectInfo
}

export function eventsFixture (): string {
  return readFileSync(path.join(FIXTURES, 'events.ndjson'), 'utf8')
}

export const CTX: LabelContext = { hostname: 'host1', advertiseIp: '10.0.0.5', namer: labelNamer('ServiceName') }

let next = 1

/** A running container with one published port (80 -> 127.0.2.9:32768) and the given labels. */
export function makeView (overrides: Partial<ContainerView> = {}): ContainerView {
  const id = (next++).toString(16).padStart(4, '0').repeat(16)
  return {
    id,
    name: '/web-1',
    image: 'nginx:1.27',
    created: '2024-05-01T09:00:00.123456789Z',
    labels: { ServiceName: 'web', ServicePort_80: '8080' },
    ports: [{ containerPort: 80, type: 'tcp', hostIp: '127.0.2.9', hostPort: 32768 }],
    hasHealthcheck: false,
    serving: true,
    ...overrides,
  }
}
