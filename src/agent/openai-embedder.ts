/**
 * An embedder that asks an OpenAI-compatible model server for vectors:
 * `POST {baseUrl}/embeddings` (Ollama, llama.cpp server with `--embeddings`,
 * vLLM, or any `/v1/embeddings` endpoint). Plain fetch, like the chat backend,
 * so both share one error vocabulary and the node needs no SDK at run time.
 *
 * Created by embedding a probe text, which checks the endpoint and learns the
 * dimension; the id `openai:<model>:d<dim>` keeps peers of another model or
 * dimension out of the node's space. Every failure is an
 * {@link OpenAiBackendError} whose message names the embedder, URL and model.
 */
import type { AsyncEmbedder } from '../core/types.js'
import { baseUrlOf, jsonHeaders, OpenAiBackendError, postJson, quote } from './openai.js'
import { embeddingResponseSchema, type EmbeddingRequest } from './openai-wire.js'

export interface OpenAiEmbedderInit {
  /** Base URL up to and including `/v1`, e.g. `http://127.0.0.1:11434/v1`. */
  baseUrl: string
  /** Embedding model as the server knows it, e.g. `nomic-embed-text`. */
  model: string
  /** Sent as a bearer token when given. */
  apiKey?: string
  /** Timeout of one call, ms (default 15,000). */
  timeoutMs?: number
}

/** The text embedded at start to check the endpoint and learn the dimension. */
export const PROBE_TEXT = 'ppai embedding probe: what is the boiling point of water at sea level?'

/** The id of a model server's space: model and dimension. */
export function openAiEmbedderId (model: string, dim: number): string {
  return `openai:${model}:d${dim}`
}

/**
 * Checks the endpoint with a probe text and returns an embedder of the
 * dimension it answered with. Rejects with an {@link OpenAiBackendError}
 * naming the URL and model when the server is unreachable, answers an
 * error status, or answers something that is not an embedding.
 */
export async function createOpenAiEmbedder (init: OpenAiEmbedderInit): Promise<AsyncEmbedder> {
  const url = new URL('embeddings', baseUrlOf(init.baseUrl)).toString()
  const headers = jsonHeaders(init.apiKey, init.baseUrl)
  const timeoutMs = init.timeoutMs ?? 15_000
  const label = `embedder openai:${init.model}`

  async function embedAs (text: string, dim: number | undefined, signal?: AbortSignal): Promise<Float32Array> {
    const body: EmbeddingRequest = { model: init.model, input: text, encoding_format: 'float' }
    let reply: Awaited<ReturnType<typeof postJson>>
    try {
      reply = await postJson(url, headers, body, timeoutMs, signal)
    } catch (err) {
      if (err instanceof OpenAiBackendError) throw new OpenAiBackendError(err.reason, url, `${label}: ${err.message}`, err.status, { cause: err })
      throw err
    }
    const malformed = (what: string, cause?: unknown): OpenAiBackendError =>
      new OpenAiBackendError('malformed-body', url, `${label}: ${url} answered HTTP ${reply.status} ${what}: ${quote(reply.text)}`, reply.status, { cause })
    const parsed = embeddingResponseSchema.safeParse(reply.json)
    if (!parsed.success) throw malformed('without data[0].embedding (an array of numbers)', parsed.error)
    const values = parsed.data.data[0].embedding
    if (dim != null && values.length !== dim) throw malformed(`a vector of ${values.length} dimensions, not the ${dim} the node embeds in`)
    let sq = 0
    for (const v of values) sq += v * v
    if (!(sq > 0) || !Number.isFinite(sq)) throw malformed('a vector of zero or unbounded length')
    const inv = 1 / Math.sqrt(sq)
    const out = new Float32Array(values.length)
    for (let i = 0; i < values.length; i++) out[i] = values[i] * inv
    return out
  }

  const dim = (await embedAs(PROBE_TEXT, undefined)).length
  return {
    id: openAiEmbedderId(init.model, dim),
    dim,
    embedAsync: (text, signal) => embedAs(text, dim, signal)
  }
}
