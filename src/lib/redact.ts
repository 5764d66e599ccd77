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
/** Query parameter names that hold secrets by convention (token, api_key, password, ...). */
export const SECRET_NAME = /token|key|secret|pass|pwd|auth|sig|credential|session/i
// Authorization header values written into a command or a message
const AUTH_SCHEME = /\b(bearer|basic|token)(\s+)[A-Za-z0-9._~+/=-]{4,}/gi

// The userinfo and query rules scan by hand rather than with the regular expressions they were:
// the text is a check's args (a container's label), a check's error (a redirect's Location) or
// a webhook receiver's answer (64 KiB read), and /([?&;][^=&#\s]*(?:token|...)[^=&#\s]*=)[^&#\s]*/gi
// backtracked in cubic time: 4 KiB of "?key" held the event loop 3.6 s, 16 KiB minutes; the
// userinfo one, /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#]*)@/gi, quadratic: 0.3 s on 16 KiB of "a.".
// Each now reads the text a bounded number of times, and masks what they masked.

/** Characters of a URL scheme after its first letter: [a-z0-9+.-], any case. */
function isSchemeChar (c: number): boolean {
  return isLetter(c) || (c >= 48 && c <= 57) || c === 43 || c === 46 || c === 45
}
function isLetter (c: number): boolean { return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) }
/** A regular expression's \w: \b is between one and a character that is not one. */
function isWordChar (c: number): boolean { return isLetter(c) || (c >= 48 && c <= 57) || c === 95 }
const SPACE = /\s/

/** The end of the run of characters from i on that are neither in `stops` nor whitespace. */
function runEnd (text: string, i: number, stops: string): number {
  while (i < text.length && !stops.includes(text[i]) && !SPACE.test(text[i])) i++
  return i
}

/** scheme://user:password@ becomes scheme://user:***@, and scheme://token@ scheme://***@. */
function maskUserinfo (text: string): string {
  let out = ''
  let done = 0 // text before this is in out
  let from = 0
  for (let c = text.indexOf('://', from); c >= 0; c = text.indexOf('://', from)) {
    // the scheme: from the leftmost letter at a word start in the run of scheme characters before "://"
    let run = c
    while (run > done && isSchemeChar(text.charCodeAt(run - 1))) run--
    let start = -1
    for (let p = run; p < c && start < 0; p++) if (isLetter(text.charCodeAt(p)) && (p === 0 || !isWordChar(text.charCodeAt(p - 1)))) start = p
    // the last '@' of the authority, looked for in it alone (a lastIndexOf on the whole text ran back to its start)
    const authority = text.slice(c + 3, runEnd(text, c + 3, '/?#'))
    const at = c + 3 + authority.lastIndexOf('@')
    if (start < 0 || at < c + 3) { from = c + 1; continue }
    const info = text.slice(c + 3, at)
    const colon = info.indexOf(':')
    // a bare user part is often a token (https://TOKEN@host)
    out += `${text.slice(done, c + 3)}${colon < 0 ? '' : `${info.slice(0, colon)}:`}${MASK}@`
    done = from = at + 1
  }
  return out + text.slice(done)
}

/** ?token=..., &api_key=..., ;password=...: the value becomes ***. */
function maskSecretQuery (text: string): string {
  let out = ''
  let done = 0
  let i = 0
  while (i < text.length) {
    const ch = text[i]
    if (ch !== '?' && ch !== '&' && ch !== ';') { i++; continue }
    // the name runs to the first = & # or whitespace (a ? or ; in it included)
    const nameEnd = runEnd(text, i + 1, '=&#')
    if (text[nameEnd] !== '=' || !SECRET_NAME.test(text.slice(i + 1, nameEnd))) {
      // a ? or ; inside this name starts a shorter name with the same end, which fails alike
      i = nameEnd
      continue
    }
    const valueEnd = runEnd(text, nameEnd + 1, '&#')
    out += `${text.slice(done, nameEnd + 1)}${MASK}`
    done = i = valueEnd
  }
  return out + text.slice(done)
}

/** Masks credentials in any text that may hold URLs or header values. */
export function redactText (text: string): string {
  // header values first: a secret query value runs to the next space, and took a "Basic" after
  // it along ("?token=x","authorization":"Basic <b64>" of an echo), leaving the value shown
  return maskSecretQuery(maskUserinfo(text.replace(AUTH_SCHEME, `$1$2${MASK}`)))
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
