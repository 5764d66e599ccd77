// Field names compared on the hot path: llhttp hands them over as sent, in any letter case.

/** name equals lower (a lower-case ASCII name) ignoring case, without making a lower-case copy (hot path). */
export function lowerEq (name: string, lower: string): boolean {
  if (name.length !== lower.length) return false
  for (let i = 0; i < lower.length; i++) {
    let c = name.charCodeAt(i)
    if (c >= 0x41 && c <= 0x5a) c |= 0x20
    if (c !== lower.charCodeAt(i)) return false
  }
  return true
}
