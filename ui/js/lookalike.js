// Names that pass for others by their letters (homoglyphs). Service names come from any
// member's gossip and from container labels: "раyments" (Cyrillic р and а) may stand beside
// "payments", and a reader cannot tell them apart. No DOM here; the model keeps each name's
// result (lookalikeOf is called once per name, not per draw).

/**
 * The scripts whose letters pass for each other's (Latin "a", Cyrillic "а", Greek "α"). A name
 * with letters of two of them is marked; letters of any other script beside Latin (Han, Arabic,
 * Hangul, ...) are not, and neither is a name of one script alone (a Cyrillic or Greek name).
 */
const ALIKE_SCRIPTS = ['Latin', 'Cyrillic', 'Greek', 'Armenian', 'Cherokee', 'Coptic', 'Lisu']
  .map(script => ({ script, re: new RegExp(`^\\p{Script=${script}}$`, 'v') }))

/**
 * The Latin letter each of these reads as, in the usual fonts (looked at side by side in
 * Chromium). Applied after NFKC, which already reads fullwidth and mathematical letters as
 * plain ones ("ｐ", "𝐩" as "p").
 */
const READS_AS = new Map(Object.entries({
  // Cyrillic
  '\u0430': 'a', '\u0435': 'e', '\u0456': 'i', '\u0458': 'j', '\u043E': 'o', '\u0440': 'p', '\u0441': 'c', '\u0443': 'y',
  '\u0445': 'x', '\u0455': 's', '\u04BB': 'h', '\u0501': 'd', '\u051B': 'q', '\u051D': 'w', '\u04CF': 'l', '\u04AF': 'y',
  '\u0410': 'A', '\u0412': 'B', '\u0415': 'E', '\u041A': 'K', '\u041C': 'M', '\u041D': 'H', '\u041E': 'O', '\u0420': 'P',
  '\u0421': 'C', '\u0422': 'T', '\u0425': 'X', '\u0405': 'S', '\u0406': 'I', '\u0408': 'J', '\u051A': 'Q', '\u051C': 'W',
  '\u04AE': 'Y', '\u04C0': 'I',
  // Greek
  '\u03B1': 'a', '\u03BF': 'o', '\u03BD': 'v', '\u03C1': 'p', '\u03B9': 'i', '\u03BA': 'k', '\u03C5': 'u', '\u03C7': 'x',
  '\u03B3': 'y', '\u03F3': 'j', '\u03F2': 'c', '\u0391': 'A', '\u0392': 'B', '\u0395': 'E', '\u0396': 'Z', '\u0397': 'H',
  '\u0399': 'I', '\u039A': 'K', '\u039C': 'M', '\u039D': 'N', '\u039F': 'O', '\u03A1': 'P', '\u03A4': 'T', '\u03A5': 'Y',
  '\u03A7': 'X', '\u03F9': 'C', '\u037F': 'J',
  // Armenian
  '\u0585': 'o', '\u057D': 'u', '\u0570': 'h', '\u0578': 'n', '\u0581': 'g', '\u0566': 'q', '\u054F': 'S', '\u054D': 'U',
  '\u0555': 'O', '\u053C': 'L',
  // Latin letters beyond ASCII
  '\u0131': 'i', '\u0251': 'a', '\u0261': 'g', '\u0269': 'i', '\u01C0': 'l',
  // Cherokee
  '\u13AA': 'A', '\u13F4': 'B', '\u13DF': 'C', '\u13A0': 'D', '\u13AC': 'E', '\u13C0': 'G', '\u13BB': 'H', '\u13AB': 'J',
  '\u13E6': 'K', '\u13DE': 'L', '\u13B7': 'M', '\u13E2': 'P', '\u13A1': 'R', '\u13DA': 'S', '\u13A2': 'T', '\u13D4': 'W',
  '\u13C3': 'Z',
  // Lisu
  '\uA4EE': 'A', '\uA4D0': 'B', '\uA4DA': 'C', '\uA4D3': 'D', '\uA4F0': 'E', '\uA4DD': 'F', '\uA4D6': 'G', '\uA4E7': 'H',
  '\uA4F2': 'I', '\uA4D9': 'J', '\uA4D7': 'K', '\uA4E1': 'L', '\uA4DF': 'M', '\uA4E0': 'N', '\uA4F3': 'O', '\uA4D1': 'P',
  '\uA4E3': 'R', '\uA4E2': 'S', '\uA4D4': 'T', '\uA4F4': 'U', '\uA4E6': 'V', '\uA4EA': 'W', '\uA4EB': 'X', '\uA4EC': 'Y',
  '\uA4DC': 'Z',
  // Coptic
  '\u2C9F': 'o', '\u2CA3': 'p', '\u2CA5': 'c', '\u2C9E': 'O', '\u2CA2': 'P', '\u2CA4': 'C', '\u2C80': 'A', '\u2C82': 'B',
  '\u2C8E': 'H', '\u2C92': 'I', '\u2C94': 'K', '\u2C98': 'M', '\u2C9A': 'N', '\u2CA6': 'T', '\u2CA8': 'Y', '\u2CAC': 'X',
}))

/** Code point -> its script among ALIKE_SCRIPTS, or null: a page meets the same letters again and again. */
const scripts = new Map()

function scriptOf (ch) {
  const cp = ch.codePointAt(0)
  if (cp < 0x80) return /[a-z]/i.test(ch) ? 'Latin' : null
  let s = scripts.get(cp)
  if (s === undefined) {
    s = /\p{L}/v.test(ch) ? ALIKE_SCRIPTS.find(({ re }) => re.test(ch))?.script ?? null : null
    scripts.set(cp, s)
  }
  return s
}

/** What `ch` reads as: NFKC's plain form (`stable`: `ch` is its own), each letter of it as the Latin one it passes for. */
function readsAs (ch, stable) {
  if (stable) return READS_AS.get(ch) ?? ch
  let out = ''
  for (const c of ch.normalize('NFKC')) out += READS_AS.get(c) ?? c
  return out
}

export const codeOf = (ch) => `U+${ch.codePointAt(0).toString(16).toUpperCase().padStart(4, '0')}`

/** The result for a name of printable ASCII, most names: nothing to say. */
const PLAIN = Object.freeze({ mixed: false, scripts: Object.freeze([]), chars: new Map(), reads: false })

/**
 * What lets `read` (a name as it reads: invisible characters left out, model.js readForm) pass
 * for another:
 * - `form`: how it reads, each letter that passes for a Latin one (READS_AS, after NFKC) as that
 *   letter: "раyments" reads "payments"; two names of one form read alike.
 * - `reads`: some letter of it reads as another one (its form is not itself).
 * - `mixed`: it has letters of two scripts of ALIKE_SCRIPTS; `scripts` names them, Latin first,
 *   then by number of letters.
 * - `chars`: its characters worth a mark, each { code, script, readsAs, foreign }: the letters
 *   that read as others, and when `mixed` the letters of every script but its main one (Latin
 *   when it has any). `foreign` tells the latter.
 */
export function lookalikeOf (read) {
  if (/^[\x20-\x7E]*$/.test(read)) return { ...PLAIN, form: read }
  const count = new Map()
  const chars = new Map()
  const stable = read.normalize('NFKC') === read // most names: no character of it changes
  let form = ''
  for (const ch of read) {
    const script = scriptOf(ch)
    if (script !== null) count.set(script, (count.get(script) ?? 0) + 1)
    const as = readsAs(ch, stable)
    form += as
    if (as !== ch) chars.set(ch, { code: codeOf(ch), script, readsAs: as, foreign: false })
  }
  const found = [...count.keys()].sort((a, b) => (b === 'Latin') - (a === 'Latin') || count.get(b) - count.get(a))
  const mixed = found.length > 1
  if (mixed) {
    for (const ch of read) {
      const script = scriptOf(ch)
      if (script === null || script === found[0]) continue
      const c = chars.get(ch)
      if (c !== undefined) c.foreign = true
      else chars.set(ch, { code: codeOf(ch), script, readsAs: ch, foreign: true })
    }
  }
  return { form, reads: form !== read, mixed, scripts: found, chars }
}
