/**
 * Why a query could not be answered: the clear error an owner gets instead
 * of a lost query.
 */
import { NamedError } from '../core/errors.js'
import type { Attempt } from './service.js'

/** `interrupted`: the agent whose streamed answer had begun failed before its end. */
export type AskErrorCode = 'deadline' | 'peer-failed' | 'local-failed' | 'aborted' | 'stopped' | 'bad-request' | 'embedder-failed' | 'interrupted'

export class AskError extends NamedError {
  constructor (readonly code: AskErrorCode, message: string, readonly attempts: Attempt[] = []) {
    super(message)
  }
}
