import type { EventEmitter } from 'node:events'
import type { Startable } from '../lib/startable.ts'
import type { Service } from '../service/service.ts'

/** A health check as a discoverer describes it: the original's (Type, Args) pair. */
export interface CheckSpec {
  readonly type: string
  readonly args: string
  /** The only "host:port" pairs an HttpGet or TcpConnect check may connect to (health/checks.ts reachKey); unset: any. */
  readonly reach?: readonly string[]
}

/** One service found on this host, with how to check it and who wants its events. */
export interface Discovered {
  /** Status and Updated are ignored: the health monitor and announcer set them. */
  readonly service: Service
  /** undefined: the default check of reference §4.4. */
  readonly check?: CheckSpec
  /** true: check.args are final (the discoverer expanded the templates itself); else src/local/ expands them, once. */
  readonly checkRendered?: boolean
  /** URL of a webhook listener this service asked for (static ListenPort, Docker SidecarListener). */
  readonly listenerUrl?: string
  /** Values for check templating ({{ container }}). */
  readonly container?: string
}

/**
 * A source of local services. services() returns the current set (cheap, no I/O);
 * 'change' fires after it changed, and after the first full listing (listed() turned true).
 * start() throws when the source cannot be used at all
 * (a static file that is bad at start); later errors keep the last good set and show in
 * lastError().
 */
export interface Discoverer extends Startable, EventEmitter<{ change: [] }> {
  readonly name: string
  services (): readonly Discovered[]
  /**
   * True once services() is the source's whole set: it was read in full at least once
   * (static: at start; Docker: its first complete listing, which comes after start() returned).
   * Until then an empty or partial services() says nothing about what is gone: the local
   * announcer keeps this host's records of an earlier run meanwhile (within a bound).
   */
  listed (): boolean
  lastError (): string | undefined
  /**
   * Asks for the source to be read again now (SIGHUP), beside its own watching; never throws,
   * returns at once. Returns what is re-read, for the log ("the static discovery file x"), or
   * undefined for a source that has nothing to re-read.
   */
  reload? (): string | undefined
}
