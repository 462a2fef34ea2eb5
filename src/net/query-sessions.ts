/**
 * The asking side of the query session protocol: a few open streams per
 * peer, each carrying one query at a time, reused by the next query. A
 * delegated query then costs one round trip; opening a stream costs a muxer
 * stream, a protocol negotiation round trip and a peer-store write. A peer
 * that does not speak the session protocol, or more concurrent queries than
 * the pool holds, go through the one-shot protocol ({@link sendQuery}).
 */
import * as lp from 'it-length-prefixed'
import type { PeerId, Stream } from '@libp2p/interface'
import { QUERY_SESSION_PROTOCOL, QUERY_SESSION_STREAMING_PROTOCOL, type QueryResponse } from './frames.js'
import { FrameReader } from './frame-io.js'
import { QueryAttemptError, encodeRequest, readAnswer, sendQuery, type Dialer, type SendQueryOptions } from './query-client.js'
import { SESSION_IDLE_MS } from './query-protocol.js'

/** Offered in this order: a peer that speaks only 1.0 negotiates 1.0, and its answers come whole. */
const SESSION_PROTOCOLS = [QUERY_SESSION_STREAMING_PROTOCOL, QUERY_SESSION_PROTOCOL]

interface Session {
  stream: Stream
  frames: FrameReader
  /** The session speaks 1.1: a request may ask for its answer streamed. */
  streaming: boolean
  idleTimer?: NodeJS.Timeout
}

interface PeerPool {
  idle: Session[]
  /** Sessions open (idle or carrying a query). */
  open: number
  /** The peer refused the session protocol: one-shot queries only. */
  legacy: boolean
}

export interface QuerySessionsOptions {
  /** Session streams per peer at most (default 4, half the default per-peer stream limit of the server). */
  maxPerPeer?: number
  /** An idle session is closed by the asker after this long, ms (default: a third of the server's idle time). */
  idleMs?: number
}

/** Pooled query sessions to peers. */
export class QuerySessions {
  private readonly pools = new Map<string, PeerPool>()
  private readonly maxPerPeer: number
  private readonly idleMs: number
  private closed = false

  constructor (private readonly dialer: Dialer, opts: QuerySessionsOptions = {}) {
    this.maxPerPeer = Math.max(0, opts.maxPerPeer ?? 4)
    this.idleMs = opts.idleMs ?? Math.floor(SESSION_IDLE_MS / 3)
  }

  /**
   * Sends one query to one peer and waits for its response, on a pooled
   * session when there is one. Same contract as {@link sendQuery}.
   */
  async query (peer: PeerId, req: { id: string, question: string }, opts: SendQueryOptions): Promise<QueryResponse> {
    // Checked before a session is taken: a question too large for a frame is refused at once.
    encodeRequest(req, opts.timeoutMs)
    const key = peer.toString()
    const pool = this.pool(key)
    if (this.closed || pool.legacy || (pool.idle.length === 0 && pool.open >= this.maxPerPeer)) return await sendQuery(this.dialer, peer, req, opts)
    const timeout = AbortSignal.timeout(Math.max(1, Math.ceil(opts.timeoutMs)))
    const signal = opts.signal == null ? timeout : AbortSignal.any([timeout, opts.signal])
    // Two tries: a reused session may have been closed by the server (idle) just before our request reached it.
    for (let attempt = 1; ; attempt++) {
      const reused = this.takeIdle(pool)
      let session = reused
      if (session == null) {
        try {
          session = await this.openSession(peer, pool, signal)
        } catch (err) {
          if (timeout.aborted) throw new QueryAttemptError('timeout', `dial timed out after ${opts.timeoutMs} ms`)
          if (opts.signal?.aborted === true) throw new QueryAttemptError('aborted', 'aborted while dialling')
          if ((err as Error).name === 'UnsupportedProtocolError') {
            pool.legacy = true
            return await sendQuery(this.dialer, peer, req, opts)
          }
          // Anything else (a broken connection...): the one-shot path has its own redial.
          return await sendQuery(this.dialer, peer, req, opts)
        }
      }
      const streamed = opts.onChunk != null && session.streaming
      const result = await this.exchange(session, encodeRequest(req, opts.timeoutMs, streamed), req.id, signal, streamed ? opts.onChunk : undefined)
      if (result.response != null) {
        this.release(pool, session)
        return result.response
      }
      this.drop(pool, session)
      if (timeout.aborted) throw new QueryAttemptError('timeout', `no response within ${Math.round(opts.timeoutMs)} ms`)
      if (opts.signal?.aborted === true) throw new QueryAttemptError('aborted', 'aborted while waiting')
      // Ended before answering a reused session: the server had closed it; the request was never served.
      if (result.ended && reused != null && attempt < 2) continue
      throw result.error ?? new QueryAttemptError('stream', 'the session ended before a response')
    }
  }

  /** Closes every idle session (the node is stopping). */
  close (): void {
    this.closed = true
    for (const pool of this.pools.values()) {
      for (const s of pool.idle.splice(0)) {
        clearTimeout(s.idleTimer)
        void s.stream.close().catch(() => s.stream.abort(new Error('closing')))
      }
    }
    this.pools.clear()
  }

  private pool (key: string): PeerPool {
    let pool = this.pools.get(key)
    if (pool == null) {
      pool = { idle: [], open: 0, legacy: false }
      this.pools.set(key, pool)
    }
    return pool
  }

  private takeIdle (pool: PeerPool): Session | undefined {
    // Bounded by the pool size: closed sessions found on the way are dropped.
    for (let s = pool.idle.pop(); s != null; s = pool.idle.pop()) {
      clearTimeout(s.idleTimer)
      if (s.stream.status === 'open' && s.stream.writeStatus === 'writable' && s.stream.remoteWriteStatus === 'writable') return s
      pool.open--
    }
    return undefined
  }

  private async openSession (peer: PeerId, pool: PeerPool, signal: AbortSignal): Promise<Session> {
    pool.open++
    try {
      const existing = this.dialer.getConnections?.(peer).find(c => c.status === 'open')
      const stream = existing != null ? await existing.newStream(SESSION_PROTOCOLS, { signal }) : await this.dialer.dialProtocol(peer, SESSION_PROTOCOLS, { signal })
      return { stream, frames: new FrameReader(stream), streaming: stream.protocol === QUERY_SESSION_STREAMING_PROTOCOL }
    } catch (err) {
      pool.open--
      throw err
    }
  }

  private async exchange (session: Session, requestBytes: Uint8Array, id: string, signal: AbortSignal, onChunk?: (text: string) => void): Promise<{ response?: QueryResponse, ended?: boolean, error?: QueryAttemptError }> {
    const { stream } = session
    const onAbort = (): void => stream.abort(new Error('query timed out or aborted'))
    signal.addEventListener('abort', onAbort, { once: true })
    try {
      try {
        stream.send(lp.encode.single(requestBytes))
      } catch (err) {
        // Not sent (the stream was closing): as safe to ask again as a session that ended unanswered.
        return { ended: true, error: new QueryAttemptError('stream', (err as Error).message) }
      }
      // Ended before any frame: the server had closed the session; ended or broken after a chunk: a QueryAttemptError.
      const response = await readAnswer(session.frames, id, onChunk)
      return response == null ? { ended: true } : { response }
    } catch (err) {
      return { error: err instanceof QueryAttemptError ? err : new QueryAttemptError('stream', (err as Error).message) }
    } finally {
      signal.removeEventListener('abort', onAbort)
    }
  }

  private release (pool: PeerPool, session: Session): void {
    if (this.closed || session.stream.status !== 'open') {
      this.drop(pool, session)
      return
    }
    // Closed by us before the server's idle timer: no request is ever sent on a session the server is closing.
    session.idleTimer = setTimeout(() => {
      const i = pool.idle.indexOf(session)
      if (i >= 0) pool.idle.splice(i, 1)
      this.drop(pool, session)
    }, this.idleMs)
    session.idleTimer.unref()
    pool.idle.push(session)
  }

  private drop (pool: PeerPool, session: Session): void {
    clearTimeout(session.idleTimer)
    pool.open = Math.max(0, pool.open - 1)
    if (session.stream.status === 'open') void session.stream.close().catch(() => session.stream.abort(new Error('closing')))
    else if (session.stream.status !== 'closed' && session.stream.status !== 'aborted' && session.stream.status !== 'reset') session.stream.abort(new Error('dropped'))
  }
}
