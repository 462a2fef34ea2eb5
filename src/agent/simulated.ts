/**
 * Simulated agents for a real node: the question is looked up by its text in
 * the loaded question set, answered with the letter a correctness model
 * chooses (a personalised edge agent or one real model's recorded answers),
 * after the service time a small device would take (a streaming asker gets it
 * in tokens at the device's decode speed). No model server needed;
 * the answers are as right or wrong as the recorded data says.
 */
import type { Question, QuestionSet } from '../data/questions.js'
import { abortableSleep, AgentAbortedError, type AgentAnswer, type AgentBackend, type AgentRequest } from './backend.js'
import { formatQuestion } from './question-prompt.js'
import type { CorrectnessModel } from './recorded-trace.js'
import { serviceTimeMs, type ServiceTimeParams } from './service-time.js'

export interface SimulatedBackendInit {
  /** The questions this agent knows, by text. */
  questions: QuestionSet
  /** Which letter it gives to each question. */
  model: CorrectnessModel
  /** How long it takes to answer. */
  service: ServiceTimeParams
  /** Requests served at once (an edge device runs one at a time); further ones wait in order. */
  concurrency?: number
}

/** A simulated backend that also tells what it is made of, for logs and reports. */
export interface SimulatedBackend extends AgentBackend {
  /** Every parameter, named, for printing. */
  readonly params: Record<string, string | number | boolean>
  /** The question a prompt refers to, if it is in the set. */
  lookup(prompt: string): Question | undefined
}

/** Whitespace-insensitive key, so re-wrapped or trimmed prompts still match. */
function textKey (text: string): string {
  return text.replace(/\s+/g, ' ').trim()
}

/** Creates a simulated backend over a question set and a correctness model. */
export function createSimulatedBackend (init: SimulatedBackendInit): SimulatedBackend {
  const byText = new Map<string, Question>()
  for (const q of init.questions.questions) {
    // The formatted prompt first: it is what the demo sends; the bare text is the fallback.
    const formatted = textKey(formatQuestion(q))
    if (!byText.has(formatted)) byText.set(formatted, q)
  }
  for (const q of init.questions.questions) {
    const bare = textKey(q.question)
    if (!byText.has(bare)) byText.set(bare, q)
  }
  const gate = new Gate(Math.max(1, init.concurrency ?? 1))
  const s = init.service
  const params = {
    agent: init.model.description,
    questions: init.questions.source,
    synthetic: init.questions.synthetic,
    prefillTokensPerSec: s.prefillTokensPerSec,
    outputTokens: s.outputTokens,
    tokensPerSec: s.tokensPerSec,
    timeScale: s.timeScale,
    charsPerToken: s.charsPerToken,
    concurrency: gate.limit
  }
  const lookup = (prompt: string): Question | undefined => byText.get(textKey(prompt))

  return {
    description: `simulated ${init.model.description}${init.questions.synthetic ? ' (synthetic workload)' : ''}; service ${s.prefillTokensPerSec} prefill tok/s + ${s.outputTokens} tok at ${s.tokensPerSec} tok/s, timeScale ${s.timeScale}`,
    params,
    lookup,
    async answer (req: AgentRequest): Promise<AgentAnswer> {
      const text = answerText(lookup(req.question), init.model)
      const release = await gate.acquire(req.signal)
      try {
        if (req.onToken == null) await abortableSleep(serviceTimeMs(req.question.length, s), req.signal)
        else await emitTokens(text, req.question.length, s, req.onToken, req.signal)
      } finally {
        release()
      }
      return { text }
    }
  }
}

/** What the simulated agent says to a question: the letter its correctness model gives, or why it has none. */
function answerText (q: Question | undefined, model: CorrectnessModel): string {
  if (q == null) {
    return `This is a simulated agent (${model.description}); the question is not in its question set, so it has no real answer to give.`
  }
  const letter = model.answer(q)
  if (!/^[ABCD]$/.test(letter)) {
    // The recorded model gave no option letter: a wrong answer, said without a stray letter.
    return `no option chosen (simulated agent, recorded reply ${JSON.stringify(letter.toLowerCase())}, question ${q.id})`
  }
  return `Answer: ${letter} (simulated agent, question ${q.id})`
}

/**
 * The answer as a device would write it: nothing during prefill, then
 * `outputTokens` decode steps at `tokensPerSec` (scaled), the text cut into
 * as many pieces (fewer when it has fewer characters). The last piece goes
 * out at the same service time as an unstreamed answer.
 */
async function emitTokens (text: string, promptChars: number, s: ServiceTimeParams, onToken: (piece: string) => void, signal?: AbortSignal): Promise<void> {
  const total = serviceTimeMs(promptChars, s)
  const decode = s.timeScale * 1000 * s.outputTokens / s.tokensPerSec
  const pieces = splitEvenly(text, s.outputTokens)
  const start = performance.now()
  for (let i = 0; i < pieces.length; i++) {
    const at = total - decode + decode * (i + 1) / pieces.length
    await abortableSleep(at - (performance.now() - start), signal)
    onToken(pieces[i])
  }
}

/** `text` cut into at most `n` pieces of nearly equal length, never inside a character. */
export function splitEvenly (text: string, n: number): string[] {
  const chars = [...text]
  const count = Math.max(1, Math.min(n, chars.length))
  const out: string[] = []
  for (let i = 0; i < count; i++) out.push(chars.slice(Math.floor(i * chars.length / count), Math.floor((i + 1) * chars.length / count)).join(''))
  return out
}

/** A counting semaphore whose waiters leave the line when their request is aborted. */
class Gate {
  private active = 0
  private readonly waiting: Array<() => void> = []
  constructor (readonly limit: number) {}

  acquire (signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted === true) return Promise.reject(new AgentAbortedError('aborted before service'))
    const release = (): void => {
      this.active--
      this.waiting.shift()?.()
    }
    if (this.active < this.limit) {
      this.active++
      return Promise.resolve(release)
    }
    return new Promise((resolve, reject) => {
      const go = (): void => {
        signal?.removeEventListener('abort', onAbort)
        this.active++
        resolve(release)
      }
      const onAbort = (): void => {
        const i = this.waiting.indexOf(go)
        if (i >= 0) this.waiting.splice(i, 1)
        reject(new AgentAbortedError('aborted while waiting for the device'))
      }
      this.waiting.push(go)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }
}
