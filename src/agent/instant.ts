/**
 * The instant backend: answers at once with a fixed-format text. For tests and
 * for measuring the network's own overhead, where a model would only add noise.
 */
import { abortableSleep, AgentAbortedError, type AgentAnswer, type AgentBackend, type AgentRequest } from './backend.js'

export interface InstantBackendOptions {
  /** Names the agent in its answers, so a test can tell who served. */
  label?: string
  /** Artificial service time, ms (0 = answer in the same tick). Lets tests make a node busy. */
  delayMs?: number
}

/** Answers `[<label>] answer to: <question>` after `delayMs` (default 0). */
export function createInstantBackend (opts: InstantBackendOptions = {}): AgentBackend {
  const label = opts.label ?? 'instant'
  const delayMs = Math.max(0, opts.delayMs ?? 0)
  return {
    description: `instant (label=${label}, delayMs=${delayMs})`,
    async answer (req: AgentRequest): Promise<AgentAnswer> {
      if (req.signal?.aborted === true) throw new AgentAbortedError(`query ${req.id} aborted`)
      if (delayMs > 0) await abortableSleep(delayMs, req.signal)
      return { text: `[${label}] answer to: ${req.question}` }
    }
  }
}
