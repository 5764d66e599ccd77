// What tells one version of a watched file from another without reading it: its inode (an
// editor's or ConfigMap's atomic rename makes a new one), size and modification time.

/** The stamp of a stat() result; equal stamps are taken as the same content. */
export function fileStamp (s: { ino: number, size: number, mtimeMs: number }): string {
  return `${s.ino}:${s.size}:${s.mtimeMs}`
}
