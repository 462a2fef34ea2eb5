/**
 * `ppai node --embedder <spec>`: which embedding space the node routes in.
 *
 * - `hash` (default): feature hashing, no model, `hash-ngram-v1-d256`.
 * - `lsa:<file>`: a fitted LSA space read from a file, `lsa-v2-d<dim>-<hash>`.
 * - `openai:<model>`: a model server's `/v1/embeddings`, `openai:<model>:d<dim>`.
 *
 * Peers embedding in another space are ignored, so every node of a network
 * must use the same spec (the same file, the same model).
 */
import { readFile } from 'node:fs/promises'
import { createOpenAiEmbedder } from '../agent/openai-embedder.js'
import { OpenAiBackendError } from '../agent/openai.js'
import { createHashEmbedder } from '../core/embedder.js'
import { ReasonError } from '../core/errors.js'
import { createLsaEmbedder, decodeLsaSpace } from '../core/lsa.js'
import type { AsyncEmbedder, Embedder } from '../core/types.js'

/** The spec syntax, for help texts and error messages. */
export const EMBEDDER_SPECS = 'hash | lsa:<file> | openai:<model>'

/** A spec that cannot give an embedder, with the reason; its message is meant for the command line as it is. */
export class EmbedderSpecError extends ReasonError<'bad-spec' | 'missing-url' | 'unreadable' | 'malformed' | 'unreachable'> {}

/** Where an `openai:` embedder finds its server. */
export interface EmbedderEndpoint {
  /** Base URL up to and including `/v1`. */
  url?: string
  apiKey?: string
  timeoutMs?: number
}

/** Embedder ids travel in records of at most 128 characters. */
const MAX_MODEL_LENGTH = 100

/** The embedder `spec` names; `openai:` checks its server with a probe text first. */
export async function resolveEmbedder (spec: string, endpoint: EmbedderEndpoint = {}): Promise<Embedder | AsyncEmbedder> {
  if (spec === 'hash') return createHashEmbedder()
  if (spec.startsWith('lsa:')) return await lsaEmbedder(spec.slice('lsa:'.length))
  if (spec.startsWith('openai:')) return await openAiEmbedder(spec.slice('openai:'.length), endpoint)
  throw new EmbedderSpecError('bad-spec', `--embedder ${spec}: not an embedder; one of ${EMBEDDER_SPECS}`)
}

async function lsaEmbedder (file: string): Promise<Embedder> {
  if (file === '') throw new EmbedderSpecError('bad-spec', '--embedder lsa:<file> needs a file')
  let bytes: Uint8Array
  try {
    bytes = new Uint8Array(await readFile(file))
  } catch (err) {
    throw new EmbedderSpecError('unreadable', `--embedder lsa:${file}: cannot read the file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err })
  }
  try {
    return createLsaEmbedder(decodeLsaSpace(bytes))
  } catch (err) {
    throw new EmbedderSpecError('malformed', `--embedder lsa:${file}: ${(err as Error).message}`, { cause: err })
  }
}

async function openAiEmbedder (model: string, endpoint: EmbedderEndpoint): Promise<AsyncEmbedder> {
  if (model === '' || model.length > MAX_MODEL_LENGTH) throw new EmbedderSpecError('bad-spec', `--embedder openai:<model> needs a model name of 1 to ${MAX_MODEL_LENGTH} characters`)
  if (endpoint.url == null || endpoint.url === '') {
    throw new EmbedderSpecError('missing-url', `--embedder openai:${model} needs --embedder-url (or --backend-url), e.g. http://127.0.0.1:11434/v1 for Ollama`)
  }
  try {
    return await createOpenAiEmbedder({ baseUrl: endpoint.url, model, apiKey: endpoint.apiKey, timeoutMs: endpoint.timeoutMs })
  } catch (err) {
    if (err instanceof OpenAiBackendError) throw new EmbedderSpecError('unreachable', err.message, { cause: err })
    throw err
  }
}
