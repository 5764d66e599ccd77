// A check's timeout that counts event-loop time, not only wall time. Node runs expired timers
// before it polls for I/O, so after a stall of the loop (module loading at start-up on a busy
// host, a long full collection) a plain setTimeout fires before the check sees the answer
// already waiting in its socket: a false UNHEALTHY. Two rules prevent it:
// - the abort waits for one I/O poll (setImmediate runs after it): an answer already in the
//   socket wins over a timer that fired in the same turn;
// - a timer that fires late by more than stallMarginMs() means the loop was stalled past the
//   deadline: the check gets one fresh timeout, once. A loop that keeps stalling therefore
//   ends a check that gets no answer after two timeouts plus the stalls, never later.

/**
 * Lateness of a check's timer past which the loop was stalled rather than busy: a quarter of
 * the timeout, at least 50 ms (timers on a loaded host fire some milliseconds late).
 */
export function stallMarginMs (timeoutMs: number): number {
  return Math.max(50, timeoutMs / 4)
}

/**
 * Arms a check's timeout: onTimeout runs once, after timeoutMs of event-loop time (the rules
 * above; at most one extra timeout). Returns the disarm function (idempotent; call it when
 * the check ends).
 */
export function armCheckTimeout (timeoutMs: number, onTimeout: () => void): () => void {
  const due = performance.now() + timeoutMs
  let extended = false
  let immediate: NodeJS.Immediate | undefined
  const fire = (): void => {
    if (!extended && performance.now() - due > stallMarginMs(timeoutMs)) {
      extended = true
      timer = setTimeout(fire, timeoutMs)
      return
    }
    immediate = setImmediate(onTimeout)
  }
  let timer = setTimeout(fire, timeoutMs)
  return () => {
    clearTimeout(timer)
    clearImmediate(immediate)
  }
}

/**
 * p's outcome; or late()'s once signal has been aborted for graceMs without p settling. A
 * check that ignores its abort (a process that never closes its pipe, a stuck socket) then
 * still ends: its status does not freeze at the last verdict, and stop() does not wait for it.
 */
export async function settleAfterAbort<T> (p: Promise<T>, signal: AbortSignal, graceMs: number, late: () => T): Promise<T> {
  return await new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined
    const onAbort = (): void => { timer = setTimeout(() => { resolve(late()) }, graceMs) }
    if (signal.aborted) onAbort()
    else signal.addEventListener('abort', onAbort, { once: true })
    void p.then(resolve, reject).finally(() => {
      clearTimeout(timer)
      signal.removeEventListener('abort', onAbort)
    })
  })
}
