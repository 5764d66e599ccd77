// A check's timeout.

/**
 * Arms a check's timeout: onTimeout runs once, timeoutMs from now. Returns the disarm
 * function (idempotent; call it when the check ends).
 */
export function armCheckTimeout (timeoutMs: number, onTimeout: () => void): () => void {
  const timer = setTimeout(onTimeout, timeoutMs)
  return () => { clearTimeout(timer) }
}
