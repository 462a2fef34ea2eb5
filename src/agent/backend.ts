/**
 * What actually answers a question on a node: a local LLM server, a simulated
 * agent, or the instant backend. The node only sees this interface.
 */
import { NamedError } from '../core/errors.js'

/** One question put to a backend. */
export interface AgentRequest {
  /** Query id, for logs and traces. */
  id: string
  question: string
  /** Aborted when the asker gives up (stream closed, deadline passed): stop working. */
  signal?: AbortSignal
  /**
   * Set when the asker streams: called with each piece of the answer as the
   * backend produces it, in order. The returned text is still the whole
   * answer; a backend that cannot stream calls nothing.
   */
  onToken?: (text: string) => void
}

/** A backend's answer. */
export interface AgentAnswer {
  text: string
}

/** An agent that answers questions; implementations must honour `signal`. */
export interface AgentBackend {
  /** One line naming the backend and its parameters, shown in status and logs. */
  readonly description: string
  answer(req: AgentRequest): Promise<AgentAnswer>
}

/** Thrown by a backend when the request was aborted before it answered. */
export class AgentAbortedError extends NamedError {
  readonly code = 'ERR_AGENT_ABORTED'
}

/** Waits `ms`, or rejects with {@link AgentAbortedError} as soon as `signal` aborts (a simulated agent's service time). */
export function abortableSleep (ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted === true) return Promise.reject(new AgentAbortedError('aborted while answering'))
  if (ms <= 0) return Promise.resolve()
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(new AgentAbortedError('aborted while answering'))
    }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
