// Where each key of a TOML document is, for messages that name a value's line (smol-toml
// gives positions for syntax errors only). Run on text smol-toml has parsed, so it follows the
// grammar only as far as finding keys needs: table headers, dotted and quoted keys, and values
// skipped whole (strings of all four kinds, arrays and inline tables over several lines).

/** A key's path: table names and keys, and the index of an array-of-tables entry. */
export type KeyPath = ReadonlyArray<string | number>

const BARE = /[A-Za-z0-9_-]/

/** Lines (1-based) of the keys, headers and array-of-tables entries of a TOML text, by path. */
export class TomlLines {
  readonly #lines = new Map<string, number>()

  constructor (text: string) {
    try {
      new Scanner(text, (path, line) => { const k = key(path); if (!this.#lines.has(k)) this.#lines.set(k, line) }).run()
    } catch {
      // a text the scanner misreads gives fewer lines, never an error: messages then go without one
    }
  }

  /** The line of path, else of its nearest enclosing table or key that has one (an inline table's key: the line of the table). */
  lineOf (path: KeyPath): number | undefined {
    for (let n = path.length; n > 0; n--) {
      const line = this.#lines.get(key(path.slice(0, n)))
      if (line !== undefined) return line
    }
    return undefined
  }
}

function key (path: KeyPath): string {
  return JSON.stringify(path)
}

class Scanner {
  readonly #t: string
  readonly #found: (path: KeyPath, line: number) => void
  #pos = 0
  #line = 1
  #table: KeyPath = []
  readonly #entries = new Map<string, number>()

  constructor (text: string, found: (path: KeyPath, line: number) => void) {
    this.#t = text
    this.#found = found
  }

  run (): void {
    const t = this.#t
    while (this.#pos < t.length) {
      this.#skipBlank()
      if (this.#pos >= t.length) break
      const c = t[this.#pos]
      if (c === '[') this.#header()
      else this.#keyValue()
    }
  }

  /** Spaces, tabs, newlines and comments. */
  #skipBlank (): void {
    const t = this.#t
    while (this.#pos < t.length) {
      const c = t[this.#pos]
      if (c === '\n') { this.#line++; this.#pos++ } else if (c === ' ' || c === '\t' || c === '\r') this.#pos++
      else if (c === '#') { while (this.#pos < t.length && t[this.#pos] !== '\n') this.#pos++ } else return
    }
  }

  #skipSpace (): void {
    while (this.#t[this.#pos] === ' ' || this.#t[this.#pos] === '\t') this.#pos++
  }

  #header (): void {
    const line = this.#line
    const array = this.#t[this.#pos + 1] === '['
    this.#pos += array ? 2 : 1
    const path = this.#dottedKey()
    this.#pos += array ? 2 : 1
    if (array) {
      const k = key(path)
      const i = this.#entries.get(k) ?? 0
      this.#entries.set(k, i + 1)
      this.#found(path, line)
      this.#table = [...path, i]
    } else {
      this.#table = path
    }
    this.#found(this.#table, line)
  }

  #keyValue (): void {
    const line = this.#line
    const start = this.#pos
    const path = this.#dottedKey()
    for (let n = 1; n <= path.length; n++) this.#found([...this.#table, ...path.slice(0, n)], line)
    this.#skipSpace()
    if (this.#t[this.#pos] === '=') this.#pos++
    this.#value()
    if (this.#pos === start) this.#pos++ // never stuck on a character it does not expect
  }

  /** `a . "b" . 'c'` as ["a", "b", "c"], from the position on; stops before `=` or `]`. */
  #dottedKey (): string[] {
    const t = this.#t
    const parts: string[] = []
    for (;;) {
      this.#skipSpace()
      const c = t[this.#pos]
      if (c === '"' || c === '\'') {
        parts.push(this.#quotedKey(c))
      } else {
        const from = this.#pos
        while (this.#pos < t.length && BARE.test(t[this.#pos])) this.#pos++
        if (this.#pos === from) return parts
        parts.push(t.slice(from, this.#pos))
      }
      this.#skipSpace()
      if (t[this.#pos] !== '.') return parts
      this.#pos++
    }
  }

  #quotedKey (quote: string): string {
    const t = this.#t
    const from = this.#pos
    this.#pos++
    while (this.#pos < t.length && t[this.#pos] !== quote && t[this.#pos] !== '\n') this.#pos += t[this.#pos] === '\\' && quote === '"' ? 2 : 1
    this.#pos++
    const raw = t.slice(from, this.#pos)
    if (quote === '\'') return raw.slice(1, -1)
    try {
      return JSON.parse(raw) as string // TOML's basic-string escapes are JSON's, plus \UXXXXXXXX (rare in a key)
    } catch {
      return raw.slice(1, -1)
    }
  }

  /** A value, to the end of its statement: strings, arrays and inline tables may span lines. */
  #value (): void {
    const t = this.#t
    let depth = 0
    while (this.#pos < t.length) {
      const c = t[this.#pos]
      if (c === '"' || c === '\'') {
        this.#string(c)
      } else if (c === '[' || c === '{') {
        depth++
        this.#pos++
      } else if (c === ']' || c === '}') {
        depth--
        this.#pos++
      } else if (c === '#') {
        while (this.#pos < t.length && t[this.#pos] !== '\n') this.#pos++
      } else if (c === '\n') {
        if (depth <= 0) return
        this.#line++
        this.#pos++
      } else {
        this.#pos++
      }
    }
  }

  #string (quote: string): void {
    const t = this.#t
    const triple = t.startsWith(quote.repeat(3), this.#pos)
    this.#pos += triple ? 3 : 1
    while (this.#pos < t.length) {
      const c = t[this.#pos]
      if (c === '\\' && quote === '"') {
        if (t[this.#pos + 1] === '\n') this.#line++
        this.#pos += 2
      } else if (triple ? t.startsWith(quote.repeat(3), this.#pos) : c === quote) {
        this.#pos += triple ? 3 : 1
        while (triple && t[this.#pos] === quote) this.#pos++ // up to two quotes may end the content: """a"""""
        return
      } else {
        if (c === '\n') {
          if (!triple) return
          this.#line++
        }
        this.#pos++
      }
    }
  }
}
