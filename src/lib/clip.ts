// One way to cut text an untrusted party chose (a label, a checked server's answer) before it is
// held or shown: the first characters, and how long it was.

/** text, cut to max characters with its length said when longer. */
export function clip (text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}... (${text.length} characters)`
}
