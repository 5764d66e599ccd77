// One class per failure. Callers test the class (instanceof), never the message text.
// Messages are lowercase and name the value and the valid range.

export class SidecarError extends Error {
  constructor (message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = new.target.name
  }
}

/** Configuration could not be loaded: every problem found is listed, not only the first. */
export class ConfigError extends SidecarError {
  readonly problems: readonly string[]
  constructor (problems: readonly string[], options?: ErrorOptions) {
    super(problems.length === 1 ? problems[0] : `${problems.length} problems in the configuration:\n  - ${problems.join('\n  - ')}`, options)
    this.problems = problems
  }
}

/** A service record (from gossip, a peer's state, or the API) is malformed. */
export class InvalidRecordError extends SidecarError {}

/** A timestamp string is not RFC 3339, or is out of range. */
export class InvalidTimeError extends InvalidRecordError {}

/** A static discovery file could not be read or has a bad entry. */
export class StaticFileError extends SidecarError {
  readonly file: string
  constructor (file: string, message: string, options?: ErrorOptions) {
    super(`${file}: ${message}`, options)
    this.file = file
  }
}

/** No instance matches the requested id or name. */
export class ServiceNotFoundError extends SidecarError {}

/** A health check definition cannot be run (unknown type, bad args). */
export class InvalidCheckError extends SidecarError {}

/** Used by Startable components that fail to start (port in use, bad address). */
export class StartError extends SidecarError {}

export function errorMessage (err: unknown): string {
  if (err instanceof Error) return err.message
  // libp2p streams reject with their close or abort Event when the connection goes: say what it carried, not "[object Event]"
  if (err instanceof Event) {
    const inner = (err as Event & { error?: unknown }).error
    return inner instanceof Error ? inner.message : `the stream ended (a "${err.type}" event: the peer or its connection closed it)`
  }
  return String(err)
}
