// Templating of HealthCheckArgs, in the Go original's text/template dialect (reference §4.4):
// {{ host }}, {{ tcp N }}, {{ udp N }}, {{ container }}, and fields {{ .Name }}, {{ .ID }},
// {{ .Image }}, {{ .Hostname }}, {{ .ProxyMode }}. Anything else is an error, not a silent pass-through.
import { SidecarError } from '../lib/errors.ts'
import type { Service } from '../service/service.ts'

export class TemplateError extends SidecarError {}

export interface TemplateContext {
  /** What {{ host }} expands to: the advertise IP. */
  host: string
  /** What {{ container }} expands to: the container's name (Docker); undefined elsewhere. */
  container?: string
}

/** The record fields a template may name, {{ .Name }} and so on. */
export const TEMPLATE_FIELDS = ['Name', 'ID', 'Image', 'Hostname', 'ProxyMode'] as const
const FIELDS: ReadonlySet<string> = new Set(TEMPLATE_FIELDS)

/** JavaScript's \s, which Go's trim markers and the original's actions allow around a body. */
const SPACE = /\s/
/** Characters an action's body cannot hold (a regular expression's "." does not match them). */
const LINE_END = /[\n\r\u2028\u2029]/g

/**
 * Each action of args: its bounds and its body, as /\{\{-?\s*(.*?)\s*-?\}\}/g matched them
 * (a body ends at the first "}}", with a "-" and the spaces before it left out, and holds no
 * line end). Found by a scan that reads args a bounded number of times: the expression
 * backtracked in cubic time, and args are a container's label: "{{" followed by 4,094 spaces
 * held the event loop 48 s at each inspect of the container.
 */
function * actions (args: string): Generator<{ start: number, end: number, body: string }> {
  let close = -1 // the first "}}" at or after the last body start
  let bodyEnd = -1 // where the body before that "}}" ends: before the spaces and "-" that precede it
  let lineEnd = -1 // the first line end at or after the last body start (args.length: none)
  for (let p = args.indexOf('{{'); p >= 0; p = args.indexOf('{{', p + 1)) {
    let b = p + 2
    if (args[b] === '-') b++
    while (b < args.length && SPACE.test(args[b])) b++
    if (close < b) {
      close = args.indexOf('}}', b)
      if (close < 0) return // nothing closes this action or any later one
      bodyEnd = close
      if (args[bodyEnd - 1] === '-') bodyEnd--
      while (bodyEnd > 0 && SPACE.test(args[bodyEnd - 1])) bodyEnd--
    }
    if (lineEnd < b) {
      LINE_END.lastIndex = b
      lineEnd = LINE_END.exec(args)?.index ?? args.length
    }
    const end = Math.max(b, bodyEnd)
    if (lineEnd < end) continue // a line end in the body: no action starts here
    yield { start: p, end: close + 2, body: args.slice(b, end) }
    p = close + 1
  }
}

/** Expands every action in args; throws TemplateError naming the action that cannot be filled. */
export function renderCheckArgs (args: string, svc: Service, ctx: TemplateContext): string {
  let out = ''
  let done = 0
  for (const { start, end, body } of actions(args)) {
    out += args.slice(done, start) + expand(body, svc, ctx)
    done = end
  }
  return out + args.slice(done)
}

/** The value of one action's body ("tcp 8080", ".Name"). */
function expand (body: string, svc: Service, ctx: TemplateContext): string {
  const words = body.split(/\s+/).filter(w => w !== '')
  const [fn, arg] = words
  if (words.length === 1 && fn === 'host') return ctx.host
  if (words.length === 1 && fn === 'container') {
    if (ctx.container === undefined) throw new TemplateError(`{{ container }} has no value for service ${svc.Name}: only Docker services have a container name`)
    return ctx.container
  }
  if (words.length === 1 && fn.startsWith('.') && FIELDS.has(fn.slice(1))) return String(svc[fn.slice(1) as keyof Service] ?? '')
  if (words.length === 2 && (fn === 'tcp' || fn === 'udp')) {
    const sp = Number(arg)
    if (!Number.isInteger(sp)) throw new TemplateError(`{{ ${body} }}: ${JSON.stringify(arg)} is not a port number`)
    const port = svc.Ports?.find(p => p.ServicePort === sp && p.Type === fn)
    if (port === undefined) throw new TemplateError(`{{ ${body} }}: service ${svc.Name} has no ${fn} port with ServicePort ${sp}`)
    return String(port.Port)
  }
  throw new TemplateError(`{{ ${body} }}: unknown template action; use host, container, tcp N, udp N or ${TEMPLATE_FIELDS.map(f => `.${f}`).join('/')}`)
}
