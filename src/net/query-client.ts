/**
 * The asking side of the query protocol (query-protocol.ts): one query sent
 * to one peer on a new stream or a session, its answer read (streamed chunks,
 * then the response), and each way an attempt can fail, by kind.
 */
import * as lp from 'it-length-prefixed'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { NamedError } from '../core/errors.js'
import { FrameReader, parseJson, utf8Length } from './frame-io.js'
import { MAX_FRAME_BYTES, MAX_QUESTION_CHARS, QUERY_PROTOCOL, QUERY_STREAMING_PROTOCOL, QueryChunkSchema, QueryResponseSchema, type QueryChunk, type QueryResponse, type StreamingQueryRequest } from './frames.js'

/** A query attempt that failed on the wire, with the kind of failure. */
export class QueryAttemptError extends NamedError {
  constructor (readonly kind: 'too-large' | 'dial' | 'timeout' | 'stream' | 'invalid-response' | 'aborted', message: string) {
    super(message)
  }
}

export interface SendQueryOptions {
  /** Time this attempt may take, ms; the request's deadline is set slightly shorter. */
  timeoutMs: number
  signal?: AbortSignal
  /**
   * Asks for the answer streamed: called with each piece as it arrives (from
   * a peer that speaks 1.1; one that speaks only 1.0 sends the answer whole,
   * in the response, and this is never called).
   */
  onChunk?: (text: string) => void
}

/** Something that can open protocol streams: the libp2p node. */
export interface Dialer {
  dialProtocol(peer: PeerId | Multiaddr | Multiaddr[], protocols: string | string[], options?: { signal?: AbortSignal }): Promise<Stream>
  hangUp?(peer: PeerId): Promise<void>
  getConnections?(peer: PeerId): Connection[]
}

/**
 * Sends one query to one peer and waits for its response frame. Throws
 * {@link QueryAttemptError} on dial failure, timeout, a broken stream or an
 * invalid response; a `busy` or `error` reply is a returned value.
 */
export async function sendQuery (dialer: Dialer, peer: PeerId, req: { id: string, question: string }, opts: SendQueryOptions): Promise<QueryResponse> {
  encodeRequest(req, opts.timeoutMs)
  // 1.1 first when the answer is wanted streamed; a 1.0 peer negotiates 1.0.
  const protocols = opts.onChunk == null ? [QUERY_PROTOCOL] : [QUERY_STREAMING_PROTOCOL, QUERY_PROTOCOL]
  const timeout = AbortSignal.timeout(Math.max(1, Math.ceil(opts.timeoutMs)))
  const signal = opts.signal == null ? timeout : AbortSignal.any([timeout, opts.signal])
  let stream: Stream | undefined
  // Two tries: an existing connection may be broken under us; the second try dials afresh.
  for (let attempt = 1; stream == null; attempt++) {
    // An open connection takes the stream directly: the dial path also rewrites the peer store, a cost on every query.
    const existing = attempt === 1 ? dialer.getConnections?.(peer).find(c => c.status === 'open') : undefined
    try {
      stream = existing != null ? await existing.newStream(protocols, { signal }) : await dialer.dialProtocol(peer, protocols, { signal })
    } catch (err) {
      if (timeout.aborted) throw new QueryAttemptError('timeout', `dial timed out after ${opts.timeoutMs} ms`)
      if (opts.signal?.aborted === true) throw new QueryAttemptError('aborted', 'aborted while dialling')
      const broken = /closed|closing|reset/i.test((err as Error).message)
      if (attempt >= 2 || (existing == null && !broken)) throw new QueryAttemptError('dial', (err as Error).message)
      // A connection whose muxer has closed can stay listed until the connection monitor notices: drop it and dial afresh.
      if (broken) await dialer.hangUp?.(peer).catch(() => {})
    }
  }
  const open: Stream = stream
  const onAbort = (): void => open.abort(new Error(timeout.aborted ? 'query timed out' : 'query aborted'))
  signal.addEventListener('abort', onAbort, { once: true })
  try {
    const streamed = opts.onChunk != null && open.protocol === QUERY_STREAMING_PROTOCOL
    stream.send(lp.encode.single(encodeRequest(req, opts.timeoutMs, streamed)))
    let response: QueryResponse | undefined
    try {
      response = await readAnswer(new FrameReader(stream), req.id, streamed ? opts.onChunk : undefined)
    } catch (err) {
      if (timeout.aborted) throw new QueryAttemptError('timeout', `no response within ${Math.round(opts.timeoutMs)} ms`)
      if (opts.signal?.aborted === true) throw new QueryAttemptError('aborted', 'aborted while waiting')
      throw err
    }
    if (response == null) throw new QueryAttemptError('stream', 'empty: stream ended before a frame')
    await stream.close().catch(() => {})
    return response
  } catch (err) {
    stream.abort(err as Error)
    throw err
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}

/** A response frame checked against its schema; throws {@link QueryAttemptError} (`invalid-response`). */
export function parseResponse (bytes: Uint8Array): QueryResponse {
  const frame = parseServerFrame(bytes)
  if (frame.type !== 'response') throw new QueryAttemptError('invalid-response', 'a chunk frame where a response was due')
  return frame
}

/** A frame from the serving side: a chunk of a streamed answer or the response; throws {@link QueryAttemptError} (`invalid-response`). */
function parseServerFrame (bytes: Uint8Array): QueryChunk | QueryResponse {
  let json: unknown
  try {
    json = parseJson(bytes)
  } catch (err) {
    throw new QueryAttemptError('invalid-response', (err as Error).message)
  }
  const parsed = (json as { type?: unknown } | null)?.type === 'chunk' ? QueryChunkSchema.safeParse(json) : QueryResponseSchema.safeParse(json)
  if (!parsed.success) throw new QueryAttemptError('invalid-response', parsed.error.issues.map(i => i.message).join('; ').slice(0, 300))
  return parsed.data
}

/**
 * Reads the answer to request `id`: chunk frames (only when `onChunk` asked
 * for them), each handed on at once, then the response frame. Undefined when
 * the stream ended before any frame; a stream that ends or breaks after a
 * chunk, a chunk not asked for or past the answer's byte cap throws
 * {@link QueryAttemptError}.
 */
export async function readAnswer (frames: FrameReader, id: string, onChunk?: (text: string) => void): Promise<QueryResponse | undefined> {
  let bytes = 0
  // Bounded: every chunk carries at least one byte and an answer's chunks at most MAX_FRAME_BYTES together.
  for (let n = 0; n <= MAX_FRAME_BYTES; n++) {
    let frame: Uint8Array | undefined
    try {
      frame = await frames.next()
    } catch (err) {
      throw new QueryAttemptError('stream', (err as Error).message)
    }
    if (frame == null) {
      if (n === 0) return undefined
      throw new QueryAttemptError('stream', `the stream ended after ${n} chunks of a streamed answer`)
    }
    const parsed = parseServerFrame(frame)
    if (parsed.type === 'response') return parsed
    if (onChunk == null || parsed.id !== id) throw new QueryAttemptError('invalid-response', 'a chunk frame of an answer not asked to stream')
    bytes += utf8Length(parsed.text)
    if (bytes > MAX_FRAME_BYTES) throw new QueryAttemptError('invalid-response', `a streamed answer over ${MAX_FRAME_BYTES} bytes`)
    onChunk(parsed.text)
  }
  throw new QueryAttemptError('invalid-response', 'too many chunk frames')
}

/**
 * Encodes a request for the wire (`stream` only on a 1.1 stream); throws
 * {@link QueryAttemptError} (`too-large`) when it does not fit in one frame.
 */
export function encodeRequest (req: { id: string, question: string }, timeoutMs: number, stream = false): Uint8Array {
  // Leave the server a little margin to answer before our own timer fires.
  const deadlineMs = Math.max(1, Math.floor(timeoutMs * 0.95))
  const request: StreamingQueryRequest = { type: 'query', id: req.id, question: req.question, deadlineMs, ...(stream ? { stream: true } : {}) }
  const requestBytes = new TextEncoder().encode(JSON.stringify(request))
  // Checked before dialling: the peer would refuse it anyway, and only the local agent can take it.
  if (req.question.length > MAX_QUESTION_CHARS || requestBytes.length > MAX_FRAME_BYTES) throw new QueryAttemptError('too-large', `the question does not fit in one frame (${requestBytes.length} bytes, cap ${MAX_FRAME_BYTES})`)
  return requestBytes
}
