// JSON.stringify(value, null, indent) in time slices (Slicer), as Buffers: the same bytes,
// for documents of thousands of entries (a service's 10,000 instances, a listener's 10,000
// backends) that took 30-100 ms to encode in one piece, during which the daemon answered
// nothing. The walk goes into arrays and plain objects down to `depth` levels; below that
// each value is one JSON.stringify call (native, fast), re-indented to where it sits.
import { Slicer } from './slicer.ts'

/** Characters gathered before a part is cut. */
const PART_BYTES = 64 * 1024

/**
 * Text gathered into Buffers of about PART_BYTES characters, for documents built in slices and sent as
 * parts (sendParts): each part is turned into bytes as soon as it is full, and the parts are
 * never copied together.
 */
export class PartWriter {
  readonly #parts: Buffer[] = []
  readonly #escape: (text: string) => string
  #text = ''

  /**
   * escape: applied to each part's text as it is turned into bytes (Go's escaping of <, > and
   * &, say); it must map character by character, as a part may end anywhere between two.
   */
  constructor (escape: (text: string) => string = text => text) {
    this.#escape = escape
  }

  add (text: string): void {
    this.#text += text
    if (this.#text.length >= PART_BYTES) {
      this.#parts.push(Buffer.from(this.#escape(this.#text)))
      this.#text = ''
    }
  }

  /** The parts, the last one with what is left. */
  finish (): Buffer[] {
    this.#parts.push(Buffer.from(this.#escape(this.#text)))
    this.#text = ''
    return this.#parts
  }
}

export interface JsonPartsOptions {
  /** Spaces per level, as JSON.stringify's third argument; 0 is compact. Default 2. */
  indent?: number
  /** Levels of arrays and plain objects walked entry by entry, with a slice check between entries; deeper values are encoded whole. Default 3. */
  depth?: number
  /** Applied to the text as it is turned into bytes (PartWriter); character by character only. */
  escape?: (text: string) => string
}

function isPlainObject (v: object): boolean {
  const proto = Object.getPrototypeOf(v) as unknown
  return proto === Object.prototype || proto === null
}

/** What JSON.stringify serialises for a property: toJSON applied; undefined when it leaves the property out. */
function toJsonValue (v: unknown, key: string): unknown {
  if (v !== null && (typeof v === 'object' || typeof v === 'bigint') && typeof (v as { toJSON?: unknown }).toJSON === 'function') {
    v = (v as { toJSON: (k: string) => unknown }).toJSON(key)
  }
  return typeof v === 'function' || typeof v === 'symbol' ? undefined : v
}

/**
 * The bytes of JSON.stringify(value, null, indent), in parts, built in time slices. The
 * document is the value as it is while being walked: pass data that does not change meanwhile
 * (a catalog snapshot, a report built for this call).
 */
export async function jsonParts (value: unknown, opts: JsonPartsOptions = {}): Promise<Buffer[]> {
  const step = ' '.repeat(opts.indent ?? 2)
  const maxDepth = opts.depth ?? 3
  const out = new PartWriter(opts.escape)
  const slicer = new Slicer()
  const colon = step === '' ? ':' : ': '

  const write = async (v: unknown, pad: string, depth: number): Promise<void> => {
    if (v === null || typeof v !== 'object' || depth >= maxDepth || (!Array.isArray(v) && !isPlainObject(v))) {
      const json = JSON.stringify(v, null, step)
      out.add(step === '' ? json : json.replaceAll('\n', `\n${pad}`)) // a newline in JSON text is layout: strings escape theirs
      return
    }
    const inner = pad + step
    const open = step === '' ? '' : `\n${inner}`
    if (Array.isArray(v)) {
      if (v.length === 0) { out.add('[]'); return }
      out.add('[')
      for (let i = 0; i < v.length; i++) {
        out.add((i > 0 ? ',' : '') + open)
        const item = toJsonValue(v[i], String(i))
        await write(item === undefined ? null : item, inner, depth + 1)
        if (slicer.due()) await slicer.next()
      }
      out.add(step === '' ? ']' : `\n${pad}]`)
      return
    }
    let first = true
    for (const key of Object.keys(v)) {
      const item = toJsonValue((v as Record<string, unknown>)[key], key)
      if (item === undefined) continue
      out.add((first ? '{' : ',') + open + JSON.stringify(key) + colon)
      first = false
      await write(item, inner, depth + 1)
      if (slicer.due()) await slicer.next()
    }
    out.add(first ? '{}' : step === '' ? '}' : `\n${pad}}`)
  }

  const top = toJsonValue(value, '')
  if (top === undefined) throw new TypeError('jsonParts: the value has no JSON form (undefined, a function or a symbol)')
  await write(top, '', 0)
  return out.finish()
}
