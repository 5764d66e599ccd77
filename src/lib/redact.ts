// What the API shows of health checks: enough to debug, never a secret. URLs keep their
// scheme, host, path and user name but lose passwords and secret-looking query values;
// command lines (External checks) show only the program, because their arguments cannot be
// told apart from secrets (curl -u user:pass, PGPASSWORD=..., tokens). Pure; unit tested.

/** What replaces a secret, visibly. */
export const MASK = '***'

// scheme://user:password@  or  scheme://token@. The userinfo runs to the LAST '@' before the
// end of the authority (the first / ? # or space), as URL parsers split it: a password may hold
// a raw '@' (admin:p@ss@host), and stopping at the first one showed the rest of it. Where text
// around a URL has no / or space before an '@' of its own, more is masked, never less.
const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#]*)@/gi
/** Query parameter names that hold secrets by convention (token, api_key, password, ...). */
export const SECRET_NAME = /token|key|secret|pass|pwd|auth|sig|credential|session/i
// ?token=..., &api_key=..., &password=...
const SECRET_QUERY = new RegExp(`([?&;][^=&#\\s]*(?:${SECRET_NAME.source})[^=&#\\s]*=)[^&#\\s]*`, 'gi')
// Authorization header values written into a command or a message
const AUTH_SCHEME = /\b(bearer|basic|token)(\s+)[A-Za-z0-9._~+/=-]{4,}/gi

function maskUserinfo (_m: string, scheme: string, info: string): string {
  const colon = info.indexOf(':')
  if (colon < 0) return `${scheme}${MASK}@` // a bare user part is often a token (https://TOKEN@host)
  return `${scheme}${info.slice(0, colon)}:${MASK}@`
}

/** Masks credentials in any text that may hold URLs or header values. */
export function redactText (text: string): string {
  // header values first: a secret query value runs to the next space, and took a "Basic" after
  // it along ("?token=x","authorization":"Basic <b64>" of an echo), leaving the value shown
  return text
    .replace(AUTH_SCHEME, `$1$2${MASK}`)
    .replace(USERINFO, maskUserinfo)
    .replace(SECRET_QUERY, `$1${MASK}`)
}

/** A command line reduced to its program: "curl *** (arguments hidden, 57 characters)". */
export function redactCommand (command: string): string {
  const trimmed = command.trim()
  if (trimmed === '') return ''
  const program = /^\S+/.exec(trimmed)?.[0] ?? ''
  // a leading VAR=value is an environment assignment: its value is exactly what to hide
  const shown = program.includes('=') ? `${program.slice(0, program.indexOf('=') + 1)}${MASK}` : redactText(program)
  return trimmed.length === program.length ? shown : `${shown} ${MASK} (arguments hidden, ${trimmed.length} characters)`
}

/** Check types whose args are a command line. */
const COMMAND_TYPES = new Set(['External'])

/** The check's args as the API shows them. DockerExec args are "<container id> <command>". */
export function redactCheckArgs (type: string, args: string): string {
  if (COMMAND_TYPES.has(type)) return redactCommand(args)
  if (type === 'DockerExec') {
    const space = args.indexOf(' ')
    return space < 0 ? args : `${args.slice(0, space)} ${redactCommand(args.slice(space + 1))}`
  }
  return redactText(args)
}
