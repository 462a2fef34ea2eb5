/**
 * An agent backend that asks an OpenAI-compatible model server: Ollama
 * (`http://127.0.0.1:11434/v1`), llama.cpp server (`http://127.0.0.1:8080/v1`),
 * vLLM (`http://127.0.0.1:8000/v1`) or any `/v1/chat/completions` endpoint.
 *
 * Every failure becomes an {@link OpenAiBackendError} whose `reason` can be
 * counted and whose message names the URL (and the HTTP status when there is one);
 * a call the asker cancelled ends in the node's {@link AgentAbortedError}.
 */
import { NamedError } from '../core/errors.js'
import { AgentAbortedError, type AgentBackend } from './backend.js'
import { streamChatCompletion, streamingClient } from './openai-stream.js'
import { chatCompletionResponseSchema, errorBodySchema, type ChatCompletionRequest } from './openai-wire.js'

/** Why a call to the model server failed. */
export type OpenAiFailureReason = 'unreachable' | 'timeout' | 'http-status' | 'malformed-body' | 'stream-failed'

/** A failed call to the model server, with a countable reason, the URL and the HTTP status when there was one. */
export class OpenAiBackendError extends NamedError {
  constructor (
    readonly reason: OpenAiFailureReason,
    readonly url: string,
    message: string,
    readonly status?: number,
    options?: { cause?: unknown }
  ) {
    super(message, options)
  }
}

export interface OpenAiBackendInit {
  /** Base URL up to and including `/v1`, e.g. `http://127.0.0.1:11434/v1`. */
  baseUrl: string
  /** Model name as the server knows it, e.g. `llama3.2:3b`. */
  model: string
  /** Sent as a bearer token when given; local servers usually need none. */
  apiKey?: string
  /** Whole-call timeout, ms (default 60,000: a small model on a laptop can be slow). */
  timeoutMs?: number
  /** System prompt put before the question; none by default. */
  systemPrompt?: string
  maxTokens?: number
  temperature?: number
}

/** Largest part of an error body quoted in an error message. */
const QUOTE_LIMIT = 200

/**
 * Creates a backend that answers by `POST {baseUrl}/chat/completions`: with
 * `stream: false`, or with `stream: true` through the `openai` SDK when the
 * asker streams (`onToken`).
 */
export function createOpenAiBackend (init: OpenAiBackendInit): AgentBackend {
  const base = baseUrlOf(init.baseUrl)
  const url = new URL('chat/completions', base).toString()
  const timeoutMs = init.timeoutMs ?? 60_000
  const headers = jsonHeaders(init.apiKey, init.baseUrl)
  const call = { base, url, headers, timeoutMs }
  let client: ReturnType<typeof streamingClient> | undefined

  return {
    description: `openai-compatible ${init.model} at ${base.toString().replace(/\/$/, '')}`,
    async answer (req) {
      const messages: ChatCompletionRequest['messages'] = []
      if (init.systemPrompt != null && init.systemPrompt !== '') messages.push({ role: 'system', content: init.systemPrompt })
      messages.push({ role: 'user', content: req.question })
      const body: ChatCompletionRequest = { model: init.model, messages, stream: false }
      if (init.maxTokens != null) body.max_tokens = init.maxTokens
      if (init.temperature != null) body.temperature = init.temperature
      if (req.onToken != null) {
        client ??= streamingClient(call)
        return { text: await streamChatCompletion(client, call, body, req.onToken, req.signal) }
      }

      const { status, text, json } = await postJson(url, headers, body, timeoutMs, req.signal)
      const parsed = chatCompletionResponseSchema.safeParse(json)
      if (!parsed.success) {
        throw new OpenAiBackendError('malformed-body', url, `${url} answered HTTP ${status} without choices[0].message.content: ${quote(text)}`, status, { cause: parsed.error })
      }
      return { text: parsed.data.choices[0].message.content }
    }
  }
}

/**
 * POSTs `body` as JSON to `url` and returns the parsed JSON answer; a fetch
 * that throws, a non-2xx status or a body that is not JSON becomes an
 * {@link OpenAiBackendError} (the caller's abort, an {@link AgentAbortedError}).
 */
export async function postJson (url: string, headers: Record<string, string>, body: unknown, timeoutMs: number, callerSignal?: AbortSignal): Promise<{ status: number, text: string, json: unknown }> {
  const timeout = AbortSignal.timeout(timeoutMs)
  const signal = callerSignal == null ? timeout : AbortSignal.any([timeout, callerSignal])
  let res: Response
  let text: string
  try {
    res = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body), signal })
    text = await res.text()
  } catch (err) {
    throw failure(err, url, timeout, timeoutMs, callerSignal)
  }
  if (!res.ok) {
    throw new OpenAiBackendError('http-status', url, `${url} answered HTTP ${res.status}${quoteError(text)}`, res.status)
  }
  try {
    return { status: res.status, text, json: JSON.parse(text) }
  } catch (err) {
    throw new OpenAiBackendError('malformed-body', url, `${url} answered HTTP ${res.status} with a body that is not JSON: ${quote(text)}`, res.status, { cause: err })
  }
}

/**
 * The JSON headers of a call to the model server, with the bearer token when
 * there is one, else HTTP Basic from credentials written in `baseUrl`
 * (`http://user:password@host/v1`: fetch refuses a URL with credentials).
 */
export function jsonHeaders (apiKey?: string, baseUrl?: string): Record<string, string> {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' }
  if (apiKey != null && apiKey !== '') {
    headers.authorization = `Bearer ${apiKey}`
    return headers
  }
  const url = baseUrl == null ? undefined : URL.parse(baseUrl)
  if (url != null && (url.username !== '' || url.password !== '')) {
    headers.authorization = `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`
  }
  return headers
}

/**
 * `baseUrl` as a URL ending in `/`, so relative paths (`chat/completions`,
 * `embeddings`) resolve below it; without credentials, so that no
 * description, log line or error message built from it shows them.
 */
export function baseUrlOf (baseUrl: string): URL {
  let url: URL
  try {
    url = new URL(baseUrl.endsWith('/') ? baseUrl : baseUrl + '/')
  } catch (err) {
    throw new OpenAiBackendError('unreachable', redactUrl(baseUrl), `not a URL: ${redactUrl(baseUrl)}`, undefined, { cause: err })
  }
  url.username = ''
  url.password = ''
  return url
}

/** `http://user:pw@host/v1` → `http://***@host/v1`: a URL fit for logs and public documents. */
export function redactUrl (url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#@]*@/i, '$1***@')
}

/** Names what went wrong with a fetch that threw: our timeout, the caller's abort, or no server. */
function failure (err: unknown, url: string, timeout: AbortSignal, timeoutMs: number, callerSignal?: AbortSignal): Error {
  if (callerSignal?.aborted === true) return new AgentAbortedError(`call to ${url} was cancelled by the asker`, { cause: err })
  if (timeout.aborted) return new OpenAiBackendError('timeout', url, `${url} did not answer within ${timeoutMs} ms`, undefined, { cause: err })
  const cause = (err as { cause?: { code?: string, message?: string } }).cause
  const detail = cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err))
  return new OpenAiBackendError('unreachable', url, `${url} is unreachable (${detail})`, undefined, { cause: err })
}

export function quote (text: string): string {
  const oneLine = text.replace(/\s+/g, ' ').trim()
  return oneLine.length > QUOTE_LIMIT ? JSON.stringify(oneLine.slice(0, QUOTE_LIMIT) + '…') : JSON.stringify(oneLine)
}

/** The server's own error message when the body carries one, so the user sees why. */
function quoteError (text: string): string {
  if (text.trim() === '') return ''
  try {
    const parsed = errorBodySchema.safeParse(JSON.parse(text))
    if (parsed.success) {
      const e = parsed.data.error
      return `: ${typeof e === 'string' ? e : e.message}`
    }
  } catch {
    // not JSON: quote it raw
  }
  return `: ${quote(text)}`
}
