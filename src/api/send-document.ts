// How a document held as parts (respond.ts sendParts) reaches a client: with an ETag when
// the document is kept per catalog version, so a poller that has this version gets a 304
// and no body; and gzip-compressed when the client accepts it. Both are keyed by the parts
// array itself: the document caches (views.ts, SharedBuild) hand every reader of one version
// the same array and a new array for each new version, so
//  - the ETag names that array, never a later one (no stale 304 after a change);
//  - the compressed form is made once per array, by the first reader that asks, and shared by
//    every reader of that version; it is kept (a WeakMap entry) only as long as the array is,
//    which the cache drops when the next version is kept: at most the latest version's.
// zlib compresses in Node's thread pool; the event loop only hands it the parts.
import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGzip } from 'node:zlib'
import type { Context } from 'koa'
import { sendParts } from './respond.ts'

/** Smaller answers gain little from compression and fit in one packet or two either way. */
export const MIN_GZIP_BYTES = 1024
/**
 * zlib's level 1: JSON of many alike records compresses almost as well at 1 as at the default 6
 * (the 2.6 MB state of 10,000 services: 14 times smaller against 15), for three quarters of
 * the CPU time (17 ms against 22 ms on this project's 2-core test machine).
 */
const GZIP_LEVEL = 1

/** Per process, so that a tag a client kept from an earlier run of the daemon never matches a document of this one. */
const RUN = randomBytes(6).toString('base64url')
let documentsTagged = 0
const tags = new WeakMap<readonly Buffer[], string>()
const compressed = new WeakMap<readonly Buffer[], Promise<Buffer[]>>()

/**
 * Weak: the gzip and the identity form of one version share it (semantically the same
 * document; If-None-Match compares weakly), and Vary: Accept-Encoding keeps caches apart.
 */
function tagOf (parts: readonly Buffer[]): string {
  let tag = tags.get(parts)
  if (tag === undefined) tags.set(parts, tag = `W/"${RUN}-${++documentsTagged}"`)
  return tag
}

async function gzip (parts: readonly Buffer[]): Promise<Buffer[]> {
  const out: Buffer[] = []
  await pipeline(Readable.from(parts), createGzip({ level: GZIP_LEVEL }), async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) out.push(chunk)
  })
  return out
}

/** The gzip form of a document, made once for all its readers (a failed one is not kept). */
export async function gzipOf (parts: readonly Buffer[]): Promise<Buffer[]> {
  let done = compressed.get(parts)
  if (done === undefined) {
    compressed.set(parts, done = gzip(parts))
    done.catch(() => { compressed.delete(parts) })
  }
  return await done
}

export interface DocumentOptions {
  /** Content-Type (default application/json). */
  type?: string
  /**
   * True when the parts are kept per version of what they show (a SharedBuild's value): they
   * get an ETag and conditional GETs a 304. Documents built for each reader (live counters)
   * would only ever get a tag no later request can match, so they get none.
   */
  versioned?: boolean
}

/** Answers GET/HEAD with a document: 304 when the client has this version, else the parts, gzipped when accepted. */
export async function sendDocument (ctx: Context, parts: readonly Buffer[], options: DocumentOptions = {}): Promise<void> {
  ctx.vary('Accept-Encoding')
  if (options.versioned === true) {
    ctx.status = 200 // koa's `fresh` compares only for a 2xx answer
    ctx.set('ETag', tagOf(parts))
    if (ctx.fresh) {
      ctx.status = 304
      ctx.body = null
      return
    }
  }
  const size = parts.reduce((n, b) => n + b.length, 0)
  if (size >= MIN_GZIP_BYTES && ctx.acceptsEncodings('gzip', 'identity') === 'gzip') {
    const body = await gzipOf(parts)
    ctx.set('Content-Encoding', 'gzip')
    sendParts(ctx, body, options.type)
    return
  }
  sendParts(ctx, parts, options.type)
}
