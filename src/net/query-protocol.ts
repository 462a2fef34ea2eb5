/**
 * `/ppai/query/1.0.0`: one request frame, one response frame, length-prefixed
 * (it-length-prefixed) with a size cap. Every request carries a deadline; the
 * server cancels the backend when the stream closes or the deadline passes.
 * Owner-first: a remote query is admitted only while the owner's predicted
 * wait stays within its bound, otherwise a fast `busy` refusal with the load.
 */
import * as lp from 'it-length-prefixed'
import type { Connection, PeerId, Stream, StreamHandler } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'
import type { Multiaddr } from '@multiformats/multiaddr'
import { admitRemote } from '../core/admission.js'
import type { AgentBackend } from '../agent/backend.js'
import type { Logger } from '../log.js'
import { MAX_FRAME_BYTES, MAX_QUESTION_CHARS, QUERY_PROTOCOL, QueryRequestSchema, QueryResponseSchema, type QueryRequest, type QueryResponse } from './frames.js'
import type { RejectionCounter } from './rejections.js'
import { QueueAbortedError, QueuePreemptedError, type ServingQueue } from './serving-queue.js'

export const QUERY_REJECT_REASONS = ['oversize', 'malformed', 'invalid', 'empty', 'read-timeout'] as const
/** Why an incoming query frame was refused before it reached the queue. */
export type QueryRejectReason = (typeof QUERY_REJECT_REASONS)[number]

/** A frame that could not be read or did not pass its schema. */
export class FrameError extends Error {
  override name = 'FrameError'
  constructor (readonly reason: QueryRejectReason, message: string) {
    super(`${reason}: ${message}`)
  }
}

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
}

/** The stream handler of the query protocol on the serving side: one request, one response, then the stream closes. */
export function createQueryHandler (init: QueryServerInit): StreamHandler {
  return async (stream: Stream, connection: Connection): Promise<void> => {
    const from = connection.remotePeer.toString()
    let request: QueryRequest
    try {
      request = parseRequest(await withTimeout(readFrame(stream), REQUEST_READ_TIMEOUT_MS, () => new FrameError('read-timeout', `no request within ${REQUEST_READ_TIMEOUT_MS} ms`)))
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
      let request: QueryRequest
      try {
        const waitMs = served === 0 ? REQUEST_READ_TIMEOUT_MS : init.idleMs ?? SESSION_IDLE_MS
        bytes = await withTimeout(frames.next(), waitMs, () => new FrameError('read-timeout', `no request within ${waitMs} ms`))
        if (bytes == null) {
          // The asker closed its side: the session is over.
          if (served === 0) await respond(stream, frameRejected(init, from, new FrameError('empty', 'stream ended before a frame')))
          else await stream.close().catch(() => stream.abort(new Error('could not close')))
          return
        }
        request = parseRequest(bytes)
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

function parseRequest (bytes: Uint8Array): QueryRequest {
  const parsed = QueryRequestSchema.safeParse(parseJson(bytes))
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
async function serveRequest (init: QueryServerInit, stream: Stream, from: string, request: QueryRequest): Promise<QueryResponse | undefined> {
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
  try {
    const served = await queue.submit('remote', async signal => await init.backend.answer({ id: request.id, question: request.question, signal }), controller.signal, from)
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
  }
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
export class QueryAttemptError extends Error {
  override name = 'QueryAttemptError'
  constructor (readonly kind: 'too-large' | 'dial' | 'timeout' | 'stream' | 'invalid-response' | 'aborted', message: string) {
    super(message)
  }
}

export interface SendQueryOptions {
  /** Time this attempt may take, ms; the request's deadline is set slightly shorter. */
  timeoutMs: number
  signal?: AbortSignal
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
  const requestBytes = encodeRequest(req, opts.timeoutMs)
  const timeout = AbortSignal.timeout(Math.max(1, Math.ceil(opts.timeoutMs)))
  const signal = opts.signal == null ? timeout : AbortSignal.any([timeout, opts.signal])
  let stream: Stream | undefined
  // Two tries: an existing connection may be broken under us; the second try dials afresh.
  for (let attempt = 1; stream == null; attempt++) {
    // An open connection takes the stream directly: the dial path also rewrites the peer store, a cost on every query.
    const existing = attempt === 1 ? dialer.getConnections?.(peer).find(c => c.status === 'open') : undefined
    try {
      stream = existing != null ? await existing.newStream(QUERY_PROTOCOL, { signal }) : await dialer.dialProtocol(peer, QUERY_PROTOCOL, { signal })
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
    stream.send(lp.encode.single(requestBytes))
    let bytes: Uint8Array
    try {
      bytes = await readFrame(stream)
    } catch (err) {
      if (timeout.aborted) throw new QueryAttemptError('timeout', `no response within ${Math.round(opts.timeoutMs)} ms`)
      if (opts.signal?.aborted === true) throw new QueryAttemptError('aborted', 'aborted while waiting')
      throw new QueryAttemptError('stream', (err as Error).message)
    }
    const response = parseResponse(bytes)
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
  let parsed
  try {
    parsed = QueryResponseSchema.safeParse(parseJson(bytes))
  } catch (err) {
    throw new QueryAttemptError('invalid-response', (err as Error).message)
  }
  if (!parsed.success) throw new QueryAttemptError('invalid-response', parsed.error.issues.map(i => i.message).join('; ').slice(0, 300))
  return parsed.data
}

/** Encodes a request for the wire; throws {@link QueryAttemptError} (`too-large`) when it does not fit in one frame. */
export function encodeRequest (req: { id: string, question: string }, timeoutMs: number): Uint8Array {
  // Leave the server a little margin to answer before our own timer fires.
  const deadlineMs = Math.max(1, Math.floor(timeoutMs * 0.95))
  const request: QueryRequest = { type: 'query', id: req.id, question: req.question, deadlineMs }
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
