/**
 * The OpenAI-compatible surface: `POST /v1/chat/completions` (plain and
 * streamed) and `GET /v1/models`. The node's answer goes out unchanged, with
 * the AskResult in an extra `ppai` field that OpenAI clients ignore. A
 * streamed answer goes out piece by piece as the serving agent writes it.
 */
import { randomUUID } from 'node:crypto'
import { Hono } from 'hono'
import { streamSSE } from 'hono/streaming'
import { pushableV } from 'it-pushable'
import { AskError } from '../net/ask-error.js'
import type { AskOptions, AskResult, ModelChoice, NodeService } from '../net/service.js'
import { ApiError } from './errors.js'
import { readJsonBody } from './json-body.js'
import { ChatCompletionRequest, type ChatMessage } from './schemas.js'

export interface OpenAiRoutesOptions {
  /** Whole-request deadline handed to the node; past it the client gets a 504. */
  requestTimeoutMs: number
}

/** The models a client may name: `ppai`, `local`, and `peer:<id>` per known peer. */
export function listModels (service: NodeService): Array<{ id: string, object: 'model', created: number, owned_by: string }> {
  const created = Math.floor(service.status().startedAt / 1000)
  return [
    { id: 'ppai', object: 'model', created, owned_by: 'ppai-network' },
    { id: 'local', object: 'model', created, owned_by: service.name },
    ...service.peers().map(p => ({ id: `peer:${p.peerId}`, object: 'model' as const, created, owned_by: p.name ?? p.peerId }))
  ]
}

/** Known peer ids per service, reused for a second: `peers()` builds every peer's summary (prototype map included), too much per request. */
const knownPeers = new WeakMap<NodeService, { at: number, ids: Set<string> }>()
const KNOWN_PEERS_MS = 1000

/** Whether the node knows a peer; a peer not in the cached list is looked up afresh, so a newcomer is never refused for staleness. */
function knowsPeer (service: NodeService, id: string): boolean {
  const now = Date.now()
  const cached = knownPeers.get(service)
  if (cached != null && now - cached.at < KNOWN_PEERS_MS && cached.ids.has(id)) return true
  const ids = new Set(service.peers().map(p => p.peerId))
  knownPeers.set(service, { at: now, ids })
  return ids.has(id)
}

/** Maps a requested model name to the node's choice, or a `model_not_found` error. */
export function resolveModel (service: NodeService, model: string): ModelChoice {
  if (model === 'ppai' || model === 'local') return model
  if (model.startsWith('peer:')) {
    const id = model.slice(5)
    if (knowsPeer(service, id)) return `peer:${id}`
    throw new ApiError('model_not_found', `unknown peer '${id}': GET /v1/models lists the known peers`, 'model')
  }
  throw new ApiError('model_not_found', `unknown model '${model}': use 'ppai', 'local' or 'peer:<peer id>'`, 'model')
}

/** The question is the text of the last user message. */
export function lastUserText (messages: ChatMessage[]): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]
    if (m.role !== 'user') continue
    const text = typeof m.content === 'string'
      ? m.content
      : (m.content ?? []).filter(p => p.type === 'text' && typeof p.text === 'string').map(p => p.text).join('\n')
    if (text.trim() === '') break
    return text
  }
  throw new ApiError('no_user_message', 'messages must end with a user message that has text content', 'messages')
}

/** What a streaming caller gives the ask besides the question: the answer's id and where its pieces go. */
export type StreamingAsk = Pick<AskOptions, 'id' | 'onToken'>

/** Asks the node under a deadline; a failure or a timeout becomes a 5xx, never a hang. */
export async function askWithDeadline (service: NodeService, question: string, model: ModelChoice, timeoutMs: number, clientGone: AbortSignal, streaming: StreamingAsk = {}): Promise<AskResult> {
  const deadline = new AbortController()
  const signal = AbortSignal.any([deadline.signal, clientGone])
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      deadline.abort()
      reject(new ApiError('backend_timeout', `no answer within ${timeoutMs} ms`))
    }, timeoutMs)
  })
  try {
    return await Promise.race([service.ask(question, { ...streaming, model, deadlineMs: timeoutMs, signal }), timeout])
  } catch (err) {
    if (err instanceof ApiError) throw err
    if (err instanceof AskError && err.code === 'deadline') throw new ApiError('backend_timeout', `no answer before the deadline: ${err.message}`)
    if (err instanceof AskError && err.code === 'bad-request') throw new ApiError('invalid_body', err.message, 'messages')
    if (err instanceof AskError && err.code === 'stopped') throw new ApiError('node_stopping', err.message)
    throw new ApiError('backend_failed', `the node could not answer: ${err instanceof Error ? err.message : String(err)}`)
  } finally {
    clearTimeout(timer)
  }
}

/**
 * An ask whose answer is wanted as it is written: `pieces` yields the pieces
 * that came since the last read (joined by the reader, so a slow client gets
 * fewer, larger deltas) and ends when the ask ends, throwing its error;
 * `result` is the ask's outcome.
 */
export function askStreamed (service: NodeService, question: string, model: ModelChoice, timeoutMs: number, clientGone: AbortSignal, id: string): { pieces: AsyncGenerator<string[]>, result: Promise<AskResult> } {
  const pieces = pushableV<string>({ objectMode: true })
  const result = askWithDeadline(service, question, model, timeoutMs, clientGone, { id, onToken: text => pieces.push(text) })
  // The error reaches the reader through `pieces`; `result` is awaited only after they ended well.
  result.then(() => pieces.end(), (err: Error) => pieces.end(err))
  return { pieces, result }
}

/** The error of a failed ask as an API error (the OpenAI-style body an error event carries). */
export function asApiError (err: unknown): ApiError {
  return err instanceof ApiError ? err : new ApiError('backend_failed', `the node could not answer: ${err instanceof Error ? err.message : String(err)}`)
}

/** Splits an answer into stream deltas of a few words each, at most ~100 deltas. */
export function deltas (answer: string): string[] {
  const words = answer.match(/\s*\S+\s*/g) ?? [answer]
  const per = Math.max(1, Math.ceil(words.length / 100))
  const out: string[] = []
  for (let i = 0; i < words.length; i += per) out.push(words.slice(i, i + per).join(''))
  return out
}

export function openAiRoutes (service: NodeService, opts: OpenAiRoutesOptions): Hono {
  const app = new Hono()

  app.get('/models', c => c.json({ object: 'list', data: listModels(service) }))

  app.get('/models/:id{.+}', c => {
    const model = listModels(service).find(m => m.id === c.req.param('id'))
    if (model == null) throw new ApiError('model_not_found', `unknown model '${c.req.param('id')}'`, 'model')
    return c.json(model)
  })

  app.post('/chat/completions', async c => {
    const body = ChatCompletionRequest.parse(await readJsonBody(c.req.raw))
    const model = resolveModel(service, body.model)
    const question = lastUserText(body.messages)
    const created = Math.floor(Date.now() / 1000)

    if (body.stream !== true) {
      const result = await askWithDeadline(service, question, model, opts.requestTimeoutMs, c.req.raw.signal)
      return c.json({
        id: `chatcmpl-${result.id}`,
        object: 'chat.completion',
        created,
        model: body.model,
        choices: [{ index: 0, message: { role: 'assistant', content: result.answer, refusal: null }, logprobs: null, finish_reason: 'stop' }],
        ppai: result
      })
    }

    const answerId = randomUUID()
    const id = `chatcmpl-${answerId}`
    const gone = new AbortController()
    const { pieces, result } = askStreamed(service, question, model, opts.requestTimeoutMs, AbortSignal.any([c.req.raw.signal, gone.signal]), answerId)
    // Nothing goes out before the first piece (or the whole answer of an agent that cannot stream), so a failure
    // before it gets its proper HTTP status; a failure after it ends the stream with an error event.
    const first = await pieces.next()
    const chunk = (delta: Record<string, unknown>, finish: string | null, extra: Record<string, unknown> = {}): string =>
      JSON.stringify({ id, object: 'chat.completion.chunk', created, model: body.model, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], ...extra })
    return streamSSE(c, async stream => {
      // The client went away: the ask (and a peer's work on it) is cancelled.
      stream.onAbort(() => gone.abort())
      try {
        await stream.writeSSE({ data: chunk({ role: 'assistant', content: '' }, null) })
        let streamed = false
        for (let next = first; next.done !== true; next = await pieces.next()) {
          await stream.writeSSE({ data: chunk({ content: next.value.join('') }, null) })
          streamed = true
        }
        const answered = await result
        if (!streamed) for (const piece of deltas(answered.answer)) await stream.writeSSE({ data: chunk({ content: piece }, null) })
        await stream.writeSSE({ data: chunk({}, 'stop', { ppai: answered }) })
        await stream.writeSSE({ data: '[DONE]' })
      } catch (err) {
        // OpenAI clients raise an `error` event's `error` object as an API error.
        if (!stream.aborted) await stream.writeSSE({ event: 'error', data: JSON.stringify(asApiError(err).toBody()) })
      }
    })
  })

  return app
}
