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

const ACTION = /\{\{-?\s*(.*?)\s*-?\}\}/g
/** The record fields a template may name, {{ .Name }} and so on. */
export const TEMPLATE_FIELDS = ['Name', 'ID', 'Image', 'Hostname', 'ProxyMode'] as const
const FIELDS: ReadonlySet<string> = new Set(TEMPLATE_FIELDS)

/** Expands every action in args; throws TemplateError naming the action that cannot be filled. */
export function renderCheckArgs (args: string, svc: Service, ctx: TemplateContext): string {
  return args.replace(ACTION, (_all, body: string) => {
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
  })
}
