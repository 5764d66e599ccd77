/** Polls fn until it returns a value other than undefined/false; fails with message after timeoutMs. */
export async function waitFor<T> (fn: () => Promise<T | undefined | false> | T | undefined | false, opts: { timeoutMs?: number, intervalMs?: number, message: string | (() => string) }): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 15_000
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  for (;;) {
    try {
      const v = await fn()
      if (v !== undefined && v !== false) return v
    } catch (err) {
      lastError = err
    }
    if (Date.now() >= deadline) {
      const msg = typeof opts.message === 'function' ? opts.message() : opts.message
      throw new Error(`timed out after ${timeoutMs} ms waiting for: ${msg}${lastError !== undefined ? ` (last error: ${String(lastError)})` : ''}`)
    }
    await new Promise(resolve => setTimeout(resolve, opts.intervalMs ?? 100))
  }
}

export async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}
