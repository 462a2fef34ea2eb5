/**
 * A streamed answer from an OpenAI-compatible model server, read with the
 * official `openai` SDK (`stream: true`): each content delta goes to the
 * asker as it arrives. Failures become the same {@link OpenAiBackendError}
 * reasons as an unstreamed call (plus `stream-failed` for a stream that
 * breaks after it started); the asker's abort, an {@link AgentAbortedError}.
 */
import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai'
import { AgentAbortedError } from './backend.js'
import type { ChatCompletionRequest } from './openai-wire.js'
import { OpenAiBackendError } from './openai.js'

export interface StreamCall {
  /** Base URL without credentials, ending in `/`. */
  base: URL
  /** `{base}chat/completions`, for error messages. */
  url: string
  /** Headers of the unstreamed call (the authorization among them is reused). */
  headers: Record<string, string>
  /** Whole-call timeout, ms: the stream must end within it. */
  timeoutMs: number
}

/** One SDK client per backend: it holds no connection of its own (fetch pools them). */
export function streamingClient (call: Pick<StreamCall, 'base' | 'headers'>): OpenAI {
  return new OpenAI({
    baseURL: call.base.toString().replace(/\/$/, ''),
    // The authorization header below is the one sent (or none): the SDK's own bearer is never used.
    apiKey: 'unused',
    organization: null,
    project: null,
    maxRetries: 0,
    defaultHeaders: { authorization: call.headers.authorization ?? null }
  })
}

/** Asks with `stream: true`; calls `onToken` per content delta and returns the whole text. */
export async function streamChatCompletion (client: OpenAI, call: StreamCall, body: Omit<ChatCompletionRequest, 'stream'>, onToken: (text: string) => void, callerSignal?: AbortSignal): Promise<string> {
  const timeout = AbortSignal.timeout(call.timeoutMs)
  const signal = callerSignal == null ? timeout : AbortSignal.any([timeout, callerSignal])
  let text = ''
  let started = false
  try {
    const stream = await client.chat.completions.create({ ...body, stream: true }, { signal, timeout: call.timeoutMs })
    started = true
    for await (const chunk of stream) {
      const piece = chunk.choices?.[0]?.delta?.content
      if (typeof piece !== 'string' || piece === '') continue
      text += piece
      onToken(piece)
    }
  } catch (err) {
    throw streamFailure(err, call, started, timeout, callerSignal)
  }
  // The SDK ends quietly when the body stops; an abort that raced the end must still count as one.
  if (callerSignal?.aborted === true) throw new AgentAbortedError(`call to ${call.url} was cancelled by the asker`)
  if (timeout.aborted) throw new OpenAiBackendError('timeout', call.url, `${call.url} did not finish its answer within ${call.timeoutMs} ms`)
  return text
}

function streamFailure (err: unknown, call: StreamCall, started: boolean, timeout: AbortSignal, callerSignal?: AbortSignal): Error {
  const { url, timeoutMs } = call
  if (callerSignal?.aborted === true) return new AgentAbortedError(`call to ${url} was cancelled by the asker`, { cause: err })
  if (timeout.aborted || err instanceof APIConnectionTimeoutError) {
    return new OpenAiBackendError('timeout', url, `${url} did not ${started ? 'finish its answer' : 'answer'} within ${timeoutMs} ms`, undefined, { cause: err })
  }
  if (err instanceof APIUserAbortError) return new AgentAbortedError(`call to ${url} was aborted`, { cause: err })
  if (err instanceof APIConnectionError) {
    const cause = (err.cause as { code?: string, message?: string } | undefined)
    return new OpenAiBackendError('unreachable', url, `${url} is unreachable (${cause?.code ?? cause?.message ?? err.message})`, undefined, { cause: err })
  }
  if (err instanceof APIError && err.status != null) {
    return new OpenAiBackendError('http-status', url, `${url} answered HTTP ${err.status}: ${err.message}`, err.status, { cause: err })
  }
  const message = err instanceof Error ? err.message : String(err)
  return new OpenAiBackendError('stream-failed', url, `${url} broke off its streamed answer: ${message}`, undefined, { cause: err })
}
