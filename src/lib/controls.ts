// Control characters in text that came from outside (names in gossip records and container
// labels, request targets) and goes to a terminal or a line-based log. A line break would print
// a line that looks like the daemon's own (a forged "member db-1 departed"), and a terminal
// escape would recolour or clear the operator's screen. The JSON formats escape them already.

/** C0 controls but tab, DEL, C1 controls, and the Unicode line and paragraph separators. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROLS = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u2028\u2029]/g

function escaped (c: string): string {
  return c === '\n' ? '\\n' : c === '\r' ? '\\r' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`
}

/** Every control character written as an escape (\n, \r, \u001b): the text stays on one line. */
export function escapeControls (text: string): string {
  return text.replace(CONTROLS, escaped)
}

/**
 * A log message as the text format prints it: a line break is kept but followed by an indent, so
 * no line of a message but its first starts at the left margin, where every line the daemon
 * writes starts with its time; every other control character is written as an escape.
 */
export function plainLine (text: string): string {
  return text.replace(CONTROLS, c => c === '\n' ? '\n    ' : escaped(c))
}
