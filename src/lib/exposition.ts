// The text exposition of a registry, written in time slices. prom-client's registry.metrics()
// collects and formats every family in one turn of the event loop; the proxy's families hold a
// series set per listener, labelled by a service name that any member may choose (up to 253
// characters), and at [proxy] max_listeners open (4,096 at most) one scrape was a stall of
// hundreds of ms. Here each family is collected in a turn of its own, and its lines are written
// in slices of at most SLICE_MS, as Buffers. The text is prom-client's, byte for byte (a unit
// test compares them): the same escapes, label order and value format.
import { setImmediate as nextTurn } from 'node:timers/promises'
import type { Registry } from 'prom-client'

/** The event loop is handed back after this much writing. */
const SLICE_MS = 5
/** Lines written between two looks at the clock. */
const CHECK_EVERY = 256

type LabelValues = Record<string, string | number>

/** A family as prom-client's get() (or, for histograms, getForPromString()) returns it. */
interface Family {
  name: string
  help: string
  type: string
  values?: ReadonlyArray<{ metricName?: string, labels?: LabelValues, sharedLabels?: LabelValues, value: number }>
}

interface Collectable {
  get: () => Promise<Family>
  getForPromString?: () => Promise<Family>
}

/** prom-client's escapes: backslash and newline in names, help and label values; the double quote in label values. */
const escapeText = (s: string): string => s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')
const escapeLabel = (v: string | number): string | number => typeof v === 'string' ? escapeText(v).replace(/"/g, '\\"') : v

function formatLabels (labels: LabelValues, exclude?: LabelValues): string[] {
  const out: string[] = []
  for (const [name, value] of Object.entries(labels)) {
    if (exclude === undefined || !Object.hasOwn(exclude, name)) out.push(`${name}="${escapeLabel(value)}"`)
  }
  return out
}

function formatValue (v: number): string {
  if (Number.isNaN(v)) return 'Nan'
  if (!Number.isFinite(v)) return v < 0 ? '-Inf' : '+Inf'
  return `${v}`
}

/**
 * The exposition of every family of the registry (prom-client's text format, without default
 * labels or exemplars, which this project does not use), as Buffers to send in turn.
 */
export async function exposition (registry: Registry): Promise<Buffer[]> {
  const parts: Buffer[] = []
  let lines: string[] = []
  let sliceStart = performance.now()
  let first = true
  const handBack = async (): Promise<void> => {
    parts.push(Buffer.from(lines.join('')))
    lines = []
    await nextTurn()
    sliceStart = performance.now()
  }
  for (const metric of registry.getMetricsAsArray() as unknown as Collectable[]) {
    if (performance.now() - sliceStart >= SLICE_MS) await handBack()
    const family = await (metric.getForPromString?.() ?? metric.get())
    const name = escapeText(family.name)
    lines.push(`${first ? '' : '\n\n'}# HELP ${name} ${escapeText(family.help)}\n# TYPE ${name} ${family.type}`)
    first = false
    const values = family.values ?? []
    let shared: { of: LabelValues, text: string } | undefined
    for (let i = 0; i < values.length; i++) {
      const v = values[i]
      const labels = formatLabels(v.labels ?? {}, v.sharedLabels)
      if (v.sharedLabels !== undefined) {
        // the bucket lines of one histogram series share one object: formatted once
        if (shared?.of !== v.sharedLabels) shared = { of: v.sharedLabels, text: formatLabels(v.sharedLabels).join(',') }
        if (shared.text !== '') labels.push(shared.text)
      }
      lines.push(`\n${v.metricName ?? name}${labels.length > 0 ? `{${labels.join(',')}}` : ''} ${formatValue(v.value)}`)
      if (i % CHECK_EVERY === CHECK_EVERY - 1 && performance.now() - sliceStart >= SLICE_MS) await handBack()
    }
  }
  lines.push('\n')
  parts.push(Buffer.from(lines.join('')))
  return parts
}
