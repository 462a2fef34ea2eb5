import { abortableSleep, type AgentBackend } from '../../src/agent/backend.js'

export interface TokenBackendOptions {
  /** Names the agent in its answers. */
  label: string
  /** Pieces of every answer (default 8). */
  tokens?: number
  /** Time before each piece, ms (default 40). */
  everyMs?: number
  /** Fails after writing this many pieces (a model server that breaks mid-answer). */
  failAfter?: number
}

/** A backend that writes `[label] t0 t1 … tN-1` a piece every `everyMs` (streaming or not), and counts what it was asked and what was cancelled. */
export interface TokenBackend extends AgentBackend {
  readonly asked: Array<{ id: string, streamed: boolean }>
  readonly aborted: string[]
  /** The answer it gives to every question. */
  readonly answerText: string
}

export function tokenBackend (opts: TokenBackendOptions): TokenBackend {
  const tokens = opts.tokens ?? 8
  const everyMs = opts.everyMs ?? 40
  const pieces = Array.from({ length: tokens }, (_, i) => i === 0 ? `[${opts.label}] t0` : ` t${i}`)
  const asked: TokenBackend['asked'] = []
  const aborted: string[] = []
  return {
    description: `token backend (${opts.label}, ${tokens} × ${everyMs} ms${opts.failAfter == null ? '' : `, fails after ${opts.failAfter}`})`,
    asked,
    aborted,
    answerText: pieces.join(''),
    async answer ({ id, signal, onToken }) {
      asked.push({ id, streamed: onToken != null })
      try {
        for (let i = 0; i < tokens; i++) {
          if (opts.failAfter != null && i >= opts.failAfter) throw new Error(`model server broke after ${i} tokens`)
          await abortableSleep(everyMs, signal)
          onToken?.(pieces[i])
        }
      } catch (err) {
        if (signal?.aborted === true) aborted.push(id)
        throw err
      }
      return { text: pieces.join('') }
    }
  }
}
