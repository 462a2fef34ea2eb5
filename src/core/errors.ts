/**
 * The project's one pattern of error classes. An error's `name` is its
 * class's name, set here once; a class declares only what it adds:
 *
 *   export class PolicyError extends ReasonError<PolicyErrorReason> {}
 *
 * `reason` is the kind of fault that callers branch on and counters count.
 */

/** An `Error` whose `name` is the name of its class. */
export class NamedError extends Error {
  constructor (message?: string, options?: ErrorOptions) {
    super(message, options)
    this.name = new.target.name
  }
}

/** An error of a named kind, `reason`. */
export class ReasonError<R extends string> extends NamedError {
  constructor (readonly reason: R, message: string, options?: ErrorOptions) {
    super(message, options)
  }
}

/** An input refused for `reason`; the message starts with the reason (`reason: message`). */
export class RejectionError<R extends string> extends ReasonError<R> {
  constructor (reason: R, message: string) {
    super(reason, `${reason}: ${message}`)
  }
}
