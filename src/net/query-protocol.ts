/**
 * `/ppai/query/1.0.0`: one request frame, one response frame, length-prefixed
 * (it-length-prefixed) with a size cap. Every request carries a deadline; the
 * server cancels the backend when the stream closes or the deadline passes.
 * Owner-first: a remote query is admitted only while the owner's predicted
 * wait stays within its bound, otherwise a fast `busy` refusal with the load.
 */
import * as lp from 'it-length-prefixed'
import type { Connection, PeerId, Stream, StreamHandler } from '@libp2p/interface'
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
    const e = err as Error & { code?: string }
    if (e.name === 'InvalidDataLengthError' || e.code === 'ERR_MSG_DATA_TOO_LONG' || /too long|data length/i.test(e.message)) {
      throw new FrameError('oversize', `frame over ${maxBytes} bytes`)
    }
    throw err
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
  /** Owner's bound on predicted wait, ms, and cap on remote queries queued (see core/admission). */
  admission?: { ownerWaitBoundMs?: number, maxRemoteQueued?: number }
  onServed?: (evt: ServedEvent) => void
  log?: Logger
}

/** The stream handler of the query protocol on the serving side. */
export function createQueryHandler (init: QueryServerInit): StreamHandler {
  return async (stream: Stream, connection: Connection): Promise<void> => {
    const from = connection.remotePeer.toString()
    let request: QueryRequest
    try {
      const bytes = await withTimeout(readFrame(stream), REQUEST_READ_TIMEOUT_MS, () => new FrameError('read-timeout', `no request within ${REQUEST_READ_TIMEOUT_MS} ms`))
      const parsed = QueryRequestSchema.safeParse(parseJson(bytes))
      if (!parsed.success) throw new FrameError('invalid', parsed.error.issues.map(i => `${i.path.join('.')}: ${i.message}`).join('; ').slice(0, 300))
      request = parsed.data
    } catch (err) {
      const reason: QueryRejectReason = err instanceof FrameError ? err.reason : 'malformed'
      init.rejections.count(reason)
      init.log?.debug({ from, reason, err: (err as Error).message }, 'query frame rejected')
      await respond(stream, { type: 'response', id: '', status: 'error', code: `frame-${reason}`, message: (err as Error).message.slice(0, 500) })
      return
    }

    const queue = init.queue
    const verdict = admitRemote({
      backlog: queue.backlog,
      remoteQueued: queue.remoteQueued,
      serviceMs: queue.serviceMs,
      ownerArrivalPerSec: queue.arrivalPerSec('owner')
    }, init.admission)
    if (!verdict.admit) {
      init.onServed?.({ from, id: request.id, status: 'busy' })
      await respond(stream, { type: 'response', id: request.id, status: 'busy', reason: verdict.reason, predictedOwnerWaitMs: Math.min(verdict.predictedOwnerWaitMs, MAX_REPORTED_WAIT_MS), backlog: queue.backlog, serviceMs: queue.serviceMs })
      return
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
      const served = await queue.submit('remote', async signal => await init.backend.answer({ id: request.id, question: request.question, signal }), controller.signal)
      init.onServed?.({ from, id: request.id, status: 'ok', queuedMs: served.queuedMs, workMs: served.workMs })
      await respond(stream, { type: 'response', id: request.id, status: 'ok', answer: served.value.text, queuedMs: served.queuedMs, workMs: served.workMs, backlog: queue.backlog, serviceMs: queue.serviceMs })
    } catch (err) {
      if (controller.signal.aborted) {
        init.onServed?.({ from, id: request.id, status: 'cancelled' })
        // Still there: tell the asker its deadline passed here; gone: nothing to tell.
        if (deadlinePassed && stream.status === 'open') await respond(stream, { type: 'response', id: request.id, status: 'error', code: 'deadline', message: `not answered within the request's ${request.deadlineMs} ms` })
        else stream.abort(err as Error)
        return
      }
      if (err instanceof QueuePreemptedError) {
        // Owner first: a fast refusal with the load, so the asker takes its next choice.
        init.onServed?.({ from, id: request.id, status: 'busy' })
        await respond(stream, { type: 'response', id: request.id, status: 'busy', reason: 'preempted-by-owner', predictedOwnerWaitMs: queue.serviceMs, backlog: queue.backlog, serviceMs: queue.serviceMs })
        return
      }
      init.onServed?.({ from, id: request.id, status: 'error' })
      await respond(stream, { type: 'response', id: request.id, status: 'error', code: 'backend-failed', message: (err as Error).message.slice(0, 500) })
    } finally {
      clearTimeout(timer)
      stream.removeEventListener('close', onClose)
    }
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

async function respond (stream: Stream, response: QueryResponse): Promise<void> {
  try {
    stream.send(lp.encode.single(encodeResponse(response)))
    await stream.close()
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
  // Leave the server a little margin to answer before our own timer fires.
  const deadlineMs = Math.max(1, Math.floor(opts.timeoutMs * 0.95))
  const request: QueryRequest = { type: 'query', id: req.id, question: req.question, deadlineMs }
  const requestBytes = new TextEncoder().encode(JSON.stringify(request))
  // Checked before dialling: the peer would refuse it anyway, and only the local agent can take it.
  if (req.question.length > MAX_QUESTION_CHARS || requestBytes.length > MAX_FRAME_BYTES) throw new QueryAttemptError('too-large', `the question does not fit in one frame (${requestBytes.length} bytes, cap ${MAX_FRAME_BYTES})`)
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
      if (timeout.aborted) throw new QueryAttemptError('timeout', `no response within ${opts.timeoutMs} ms`)
      if (opts.signal?.aborted === true) throw new QueryAttemptError('aborted', 'aborted while waiting')
      throw new QueryAttemptError('stream', (err as Error).message)
    }
    let parsed
    try {
      parsed = QueryResponseSchema.safeParse(parseJson(bytes))
    } catch (err) {
      throw new QueryAttemptError('invalid-response', (err as Error).message)
    }
    if (!parsed.success) throw new QueryAttemptError('invalid-response', parsed.error.issues.map(i => i.message).join('; ').slice(0, 300))
    await stream.close().catch(() => {})
    return parsed.data
  } catch (err) {
    stream.abort(err as Error)
    throw err
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
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
