/**
 * `/ppai/query/1.0.0`: one request frame, one response frame, length-prefixed
 * (it-length-prefixed) with a size cap. Every request carries a deadline; the
 * server cancels the backend when the stream closes or the deadline passes.
 * `/ppai/query/1.1.0` adds streamed answers: a request with `stream: true` is
 * answered by `chunk` frames as the backend writes, then the response frame.
 * Owner-first: a remote query is admitted only while the owner's predicted
 * wait stays within its bound, otherwise a fast `busy` refusal with the load.
 *
 * This file is the serving side; the frames on the stream are in
 * frame-io.ts, the asking side in query-client.ts (re-exported here).
 */
import * as lp from 'it-length-prefixed'
import type { Connection, Stream, StreamHandler } from '@libp2p/interface'
import { admitRemote } from '../core/admission.js'
import type { AgentBackend } from '../agent/backend.js'
import type { Logger } from '../log.js'
import { FrameError, FrameReader, parseJson, readFrame, truncateUtf8, utf8Length, type QueryRejectReason } from './frame-io.js'
import { MAX_FRAME_BYTES, QueryRequestSchema, StreamingQueryRequestSchema, type QueryChunk, type QueryResponse, type StreamingQueryRequest } from './frames.js'
import type { RejectionCounter } from './rejections.js'
import { QueueAbortedError, QueuePreemptedError, type ServingQueue } from './serving-queue.js'

export { FrameError, FrameReader, QUERY_REJECT_REASONS, readFrame, type QueryRejectReason } from './frame-io.js'
export { encodeRequest, parseResponse, QueryAttemptError, readAnswer, sendQuery, type Dialer, type SendQueryOptions } from './query-client.js'

/** A saturated owner's infinite predicted wait is reported as this (JSON has no Infinity), ms. */
const MAX_REPORTED_WAIT_MS = 1e9

/** How long a server waits for the request frame after a stream opens, ms. */
export const REQUEST_READ_TIMEOUT_MS = 5_000

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

async function withTimeout<T> (p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([p, new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(onTimeout()), ms) })])
  } finally {
    clearTimeout(timer)
  }
}
