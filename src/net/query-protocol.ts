/**
 * `/ppai/query/1.0.0`: one request frame, one response frame, length-prefixed
 * (it-length-prefixed) with a size cap. Every request carries a deadline; the
 * server cancels the backend when the stream closes or the deadline passes.
 * `/ppai/query/1.1.0` adds streamed answers: a request with `stream: true` is
 * answered by `chunk` frames as the backend writes, then the response frame.
 * Owner-first: a remote query is admitted only while the owner's predicted
 * wait stays within its bound, otherwise a fast `busy` refusal with the load.
 */
import * as lp from 'it-length-prefixed'
import type { Connection, PeerId, Stream, StreamHandler } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'
import type { Multiaddr } from '@multiformats/multiaddr'
import { admitRemote } from '../core/admission.js'
import type { AgentBackend } from '../agent/backend.js'
import { NamedError, RejectionError } from '../core/errors.js'
import type { Logger } from '../log.js'
import { MAX_FRAME_BYTES, MAX_QUESTION_CHARS, QUERY_PROTOCOL, QUERY_STREAMING_PROTOCOL, QueryChunkSchema, QueryRequestSchema, QueryResponseSchema, StreamingQueryRequestSchema, type QueryChunk, type QueryResponse, type StreamingQueryRequest } from './frames.js'
import type { RejectionCounter } from './rejections.js'
import { QueueAbortedError, QueuePreemptedError, type ServingQueue } from './serving-queue.js'

export const QUERY_REJECT_REASONS = ['oversize', 'malformed', 'invalid', 'empty', 'read-timeout'] as const
/** Why an incoming query frame was refused before it reached the queue. */
export type QueryRejectReason = (typeof QUERY_REJECT_REASONS)[number]

/** A frame that could not be read or did not pass its schema. */
export class FrameError extends RejectionError<QueryRejectReason> {}

/** A saturated owner's infinite predicted wait is reported as this (JSON has no Infinity), ms. */
const MAX_REPORTED_WAIT_MS = 1e9

/** How long a server waits for the request frame after a stream opens, ms. */
export const REQUEST_READ_TIMEOUT_MS = 5_000

/** Reads exactly one length-prefixed frame, capped at `maxBytes`. */
export async function readFrame (stream: Stream, maxBytes: number = MAX_FRAME_BYTES): Promise<Uint8Array> {
  try {
    for await (const frame of lp.decode(stream, { maxDataLength: maxBytes })) {
      return frame.subarray()
    }
  } catch (err) {
    throw asFrameError(err, maxBytes)
  }
  throw new FrameError('empty', 'stream ended before a frame')
}

function parseJson (bytes: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch (err) {
    throw new FrameError('malformed', (err as Error).message.slice(0, 200))
  }
}

/** What happened to one served remote query, for the node's counters and logs. */
export interface ServedEvent {
  from: string
  id: string
  status: QueryResponse['status'] | 'cancelled'
  queuedMs?: number
  workMs?: number
}

export interface QueryServerInit {
  queue: ServingQueue
  backend: AgentBackend
  rejections: RejectionCounter<QueryRejectReason>
  /** Owner's bound on predicted wait, ms, and caps on remote queries queued, in all and per peer (see core/admission). */
  admission?: { ownerWaitBoundMs?: number, maxRemoteQueued?: number, maxPerPeerQueued?: number }
  /**
   * The serving agent's own predicted success on a question (core
   * `ownPredictedSuccess`): with it, admission lends the agent only where it
   * is good (core `EXPERT_ADMISSION`); undefined, the plain terms.
   */
  ownSuccess?: (question: string) => Promise<number | undefined>
  onServed?: (evt: ServedEvent) => void
  log?: Logger
  /** Speak the 1.1 protocols: accept `stream: true` and answer it in chunks (default false: 1.0). */
  streaming?: boolean
}

/** The stream handler of the query protocol on the serving side: one request, one response, then the stream closes. */
export function createQueryHandler (init: QueryServerInit): StreamHandler {
  return async (stream: Stream, connection: Connection): Promise<void> => {
    const from = connection.remotePeer.toString()
    let request: StreamingQueryRequest
    try {
      request = parseRequest(init, await withTimeout(readFrame(stream), REQUEST_READ_TIMEOUT_MS, () => new FrameError('read-timeout', `no request within ${REQUEST_READ_TIMEOUT_MS} ms`)))
    } catch (err) {
      await respond(stream, frameRejected(init, from, err))
      return
    }
    const response = await serveRequest(init, stream, from, request)
    if (response != null) await respond(stream, response)
  }
}

/** How long a query session may stay idle between requests before the server closes it, ms. */
export const SESSION_IDLE_MS = 30_000

export interface QuerySessionServerInit extends QueryServerInit {
  /**
   * Charged for every request after a session's first (the first is charged
   * when the stream opens); throws to refuse it (e.g. a per-peer rate limit).
   */
  chargeRequest?: (peer: string) => void
  /** Idle time after which the server closes a session, ms (default {@link SESSION_IDLE_MS}). */
  idleMs?: number
}

/**
 * The stream handler of the query session protocol: requests served one
 * after another on one stream, each answered with one frame; the stream stays
 * open until the asker closes it or it idles for {@link SESSION_IDLE_MS}. A
 * malformed frame ends the session.
 */
export function createQuerySessionHandler (init: QuerySessionServerInit): StreamHandler {
  return async (stream: Stream, connection: Connection): Promise<void> => {
    const from = connection.remotePeer.toString()
    const frames = new FrameReader(stream)
    // Bounded in count; each turn also waits at most the idle time for its frame.
    for (let served = 0; served < 1_000_000_000 && stream.status === 'open'; served++) {
      let bytes: Uint8Array | undefined
      let request: StreamingQueryRequest
      try {
        const waitMs = served === 0 ? REQUEST_READ_TIMEOUT_MS : init.idleMs ?? SESSION_IDLE_MS
        bytes = await withTimeout(frames.next(), waitMs, () => new FrameError('read-timeout', `no request within ${waitMs} ms`))
        if (bytes == null) {
          // The asker closed its side: the session is over.
          if (served === 0) await respond(stream, frameRejected(init, from, new FrameError('empty', 'stream ended before a frame')))
          else await stream.close().catch(() => stream.abort(new Error('could not close')))
          return
        }
        request = parseRequest(init, bytes)
      } catch (err) {
        // An idle session simply ends; anything else is a bad frame, answered and the session closed.
        if (served > 0 && err instanceof FrameError && err.reason === 'read-timeout') {
          await stream.close().catch(() => stream.abort(new Error('could not close')))
          return
        }
        await respond(stream, frameRejected(init, from, err))
        return
      }
      if (served > 0 && init.chargeRequest != null) {
        try {
          init.chargeRequest(from)
        } catch (err) {
          const reason = (err as { reason?: string }).reason ?? 'rate'
          if (!await send(stream, { type: 'response', id: request.id, status: 'error', code: `throttled-${reason}`, message: `over the per-peer ${reason} limit; try later` })) return
          continue
        }
      }
      const response = await serveRequest(init, stream, from, request)
      if (response == null || !await send(stream, response)) return
    }
  }
}

/** Successive length-prefixed frames of one stream (a session reads many; `readFrame` reads one). */
export class FrameReader {
  private readonly frames: AsyncIterator<Uint8ArrayList | Uint8Array>

  constructor (stream: Stream, private readonly maxBytes: number = MAX_FRAME_BYTES) {
    this.frames = lp.decode(stream, { maxDataLength: maxBytes })[Symbol.asyncIterator]()
  }

  /** The next frame, or undefined when the stream has ended. */
  async next (): Promise<Uint8Array | undefined> {
    try {
      const r = await this.frames.next()
      return r.done === true ? undefined : r.value.subarray()
    } catch (err) {
      throw asFrameError(err, this.maxBytes)
    }
  }
}

function asFrameError (err: unknown, maxBytes: number): unknown {
  const e = err as Error & { code?: string }
  if (e.name === 'InvalidDataLengthError' || e.code === 'ERR_MSG_DATA_TOO_LONG' || /too long|data length/i.test(e.message)) {
    return new FrameError('oversize', `frame over ${maxBytes} bytes`)
  }
  return err
}

function parseRequest (init: QueryServerInit, bytes: Uint8Array): StreamingQueryRequest {
  const parsed = (init.streaming === true ? StreamingQueryRequestSchema : QueryRequestSchema).safeParse(parseJson(bytes))
  if (!parsed.success) throw new FrameError('invalid', parsed.error.issues.map(i => `${i.path.join('.')}: ${i.message}`).join('; ').slice(0, 300))
  return parsed.data
}

/** Counts a refused frame and builds the error response to it. */
function frameRejected (init: QueryServerInit, from: string, err: unknown): QueryResponse {
  const reason: QueryRejectReason = err instanceof FrameError ? err.reason : 'malformed'
  init.rejections.count(reason)
  init.log?.debug({ from, reason, err: (err as Error).message }, 'query frame rejected')
  return { type: 'response', id: '', status: 'error', code: `frame-${reason}`, message: (err as Error).message.slice(0, 500) }
}

/**
 * Admits (owner first) and serves one valid request; the response to send,
 * or undefined when the asker has gone (the stream was aborted).
 */
async function serveRequest (init: QueryServerInit, stream: Stream, from: string, request: StreamingQueryRequest): Promise<QueryResponse | undefined> {
  const queue = init.queue
  const ownSuccess = await init.ownSuccess?.(request.question)
  const verdict = admitRemote({
    backlog: queue.backlog,
    remoteQueued: queue.remoteQueued,
    serviceMs: queue.serviceMs,
    ownerArrivalPerSec: queue.arrivalPerSec('owner'),
    fromPeerQueued: queue.remoteQueuedBy(from),
    ownSuccess
  }, init.admission)
  if (!verdict.admit) {
    init.onServed?.({ from, id: request.id, status: 'busy' })
    return { type: 'response', id: request.id, status: 'busy', reason: verdict.reason, predictedOwnerWaitMs: Math.min(verdict.predictedOwnerWaitMs, MAX_REPORTED_WAIT_MS), backlog: queue.backlog, serviceMs: queue.serviceMs }
  }

  // Cancel when the asker goes away (stream reset / connection lost) or its deadline passes.
  const controller = new AbortController()
  let deadlinePassed = false
  const onClose = (): void => controller.abort(new QueueAbortedError('stream closed by the asker'))
  stream.addEventListener('close', onClose, { once: true })
  const timer = setTimeout(() => {
    deadlinePassed = true
    controller.abort(new QueueAbortedError('deadline passed'))
  }, request.deadlineMs)
  // Streamed: each piece goes out as the backend writes it; the response frame follows the last.
  const chunks = request.stream === true ? new ChunkSender(stream, request.id) : undefined
  try {
    const served = await queue.submit('remote', async signal => await init.backend.answer({ id: request.id, question: request.question, signal, onToken: chunks?.push }), controller.signal, from)
    await chunks?.drained()
    init.onServed?.({ from, id: request.id, status: 'ok', queuedMs: served.queuedMs, workMs: served.workMs })
    return { type: 'response', id: request.id, status: 'ok', answer: served.value.text, queuedMs: served.queuedMs, workMs: served.workMs, backlog: queue.backlog, serviceMs: queue.serviceMs }
  } catch (err) {
    if (controller.signal.aborted) {
      init.onServed?.({ from, id: request.id, status: 'cancelled' })
      // Still there: tell the asker its deadline passed here; gone: nothing to tell.
      if (deadlinePassed && stream.status === 'open') return { type: 'response', id: request.id, status: 'error', code: 'deadline', message: `not answered within the request's ${request.deadlineMs} ms` }
      stream.abort(err as Error)
      return undefined
    }
    if (err instanceof QueuePreemptedError) {
      // Owner first: a fast refusal with the load, so the asker takes its next choice.
      init.onServed?.({ from, id: request.id, status: 'busy' })
      return { type: 'response', id: request.id, status: 'busy', reason: 'preempted-by-owner', predictedOwnerWaitMs: queue.serviceMs, backlog: queue.backlog, serviceMs: queue.serviceMs }
    }
    init.onServed?.({ from, id: request.id, status: 'error' })
    return { type: 'response', id: request.id, status: 'error', code: 'backend-failed', message: (err as Error).message.slice(0, 500) }
  } finally {
    clearTimeout(timer)
    stream.removeEventListener('close', onClose)
    await chunks?.drained()
  }
}

/** Largest piece of text in one chunk frame, UTF-8 bytes (JSON escapes can grow it up to six times; the frame cap is 64 KB). */
const CHUNK_TEXT_BYTES = 8 * 1024

/**
 * Sends the pieces of a streamed answer as chunk frames, in order, each as
 * soon as it comes; while the stream is backed up they are joined, and
 * nothing beyond the answer's byte cap is sent.
 */
export class ChunkSender {
  private pending = ''
  private queuedBytes = 0
  private sending = false
  private flushing?: Promise<void>

  constructor (private readonly stream: Stream, private readonly id: string, private readonly maxBytes: number = MAX_FRAME_BYTES) {}

  /** Queues a piece and sends it now unless the stream is backed up. */
  push = (text: string): void => {
    const room = this.maxBytes - this.queuedBytes
    if (room <= 0 || text === '') return
    const piece = truncateUtf8(text, room)
    this.queuedBytes += utf8Length(piece)
    this.pending += piece
    // flush() may finish before it returns (nothing backed up): `sending` says whether one is still at work.
    if (!this.sending) this.flushing = this.flush()
  }

  /** Resolves once every queued piece has been handed to the stream (or the stream has gone). */
  async drained (): Promise<void> {
    await this.flushing
  }

  private async flush (): Promise<void> {
    this.sending = true
    try {
      // Bounded: each turn takes at least one character of what is pending, and at most maxBytes are ever queued.
      while (this.pending !== '' && this.stream.status === 'open') {
        const text = truncateUtf8(this.pending, CHUNK_TEXT_BYTES)
        this.pending = this.pending.slice(text.length)
        const chunk: QueryChunk = { type: 'chunk', id: this.id, text }
        if (!this.stream.send(lp.encode.single(new TextEncoder().encode(JSON.stringify(chunk))))) await this.stream.onDrain({ signal: AbortSignal.timeout(REQUEST_READ_TIMEOUT_MS) })
      }
    } catch {
      // The asker stopped reading: its stream goes, and the close cancels the work.
      this.stream.abort(new Error('could not send a chunk'))
    } finally {
      this.pending = ''
      this.sending = false
    }
  }
}

function utf8Length (text: string): number {
  return new TextEncoder().encode(text).length
}

/**
 * The response as frame bytes within the size cap: an answer too long for one
 * frame (counting UTF-8 and JSON escapes) is cut until the frame fits.
 */
export function encodeResponse (response: QueryResponse, maxBytes: number = MAX_FRAME_BYTES): Uint8Array {
  let bytes = new TextEncoder().encode(JSON.stringify(response))
  if (response.status !== 'ok') return bytes
  let answer = response.answer
  for (let i = 0; bytes.length > maxBytes && i < 20; i++) {
    answer = truncateUtf8(answer, Math.floor(new TextEncoder().encode(answer).length * (maxBytes - 512) / bytes.length))
    bytes = new TextEncoder().encode(JSON.stringify({ ...response, answer }))
  }
  return bytes
}

/** Sends one response frame and keeps the stream open (a session); false when the asker has gone. */
async function send (stream: Stream, response: QueryResponse): Promise<boolean> {
  try {
    if (!stream.send(lp.encode.single(encodeResponse(response)))) await stream.onDrain({ signal: AbortSignal.timeout(REQUEST_READ_TIMEOUT_MS) })
    return true
  } catch {
    stream.abort(new Error('could not respond'))
    return false
  }
}

async function respond (stream: Stream, response: QueryResponse): Promise<void> {
  try {
    stream.send(lp.encode.single(encodeResponse(response)))
    await stream.close()
    // Nothing more is read after the final response: without this, bytes a peer keeps sending (e.g. after a stalled
    // request was refused) pile up unread in the stream's buffer, up to 4 MB per stream.
    await stream.closeRead()
  } catch {
    // The asker has gone; nothing left to tell it.
    stream.abort(new Error('could not respond'))
  }
}

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

/** Cuts a text to at most `maxBytes` of UTF-8 (an answer must fit in one frame, whatever its script). */
export function truncateUtf8 (text: string, maxBytes: number): string {
  const bytes = new TextEncoder().encode(text)
  if (bytes.length <= maxBytes) return text
  // fatal: false drops a character cut in half at the end.
  return new TextDecoder('utf-8', { fatal: false }).decode(bytes.subarray(0, maxBytes)).replace(/\uFFFD$/, '')
}

async function withTimeout<T> (p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([p, new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(onTimeout()), ms) })])
  } finally {
    clearTimeout(timer)
  }
}
