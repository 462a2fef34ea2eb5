/**
 * Why a query could not be answered: the clear error an owner gets instead
 * of a lost query.
 */
import type { Attempt } from './service.js'

/** `interrupted`: the agent whose streamed answer had begun failed before its end. */
export type AskErrorCode = 'deadline' | 'peer-failed' | 'local-failed' | 'aborted' | 'stopped' | 'bad-request' | 'embedder-failed' | 'interrupted'

export class AskError extends Error {
  override name = 'AskError'
  constructor (readonly code: AskErrorCode, message: string, readonly attempts: Attempt[] = []) {
    super(message)
  }
}
