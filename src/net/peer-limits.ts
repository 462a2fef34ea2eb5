/**
 * Per-peer limits on the query protocol: concurrent streams, requests per
 * second and bytes per second, each peer on its own budget. A flooding peer
 * is refused fast (one small error frame) while the others are untouched;
 * every refusal is counted by reason.
 */
import * as lp from 'it-length-prefixed'
import type { Connection, Stream, StreamHandler } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'
import { RejectionError } from '../core/errors.js'
import { RejectionCounter } from './rejections.js'

export const PEER_LIMIT_REASONS = ['streams', 'rate', 'bytes'] as const
/** Why a peer's stream was refused before it reached the query handler. */
export type PeerLimitReason = (typeof PEER_LIMIT_REASONS)[number]

/** The budget of one peer. */
export interface PeerLimits {
  /** Query streams open at once per peer. */
  maxStreams: number
  /** Sustained requests per second per peer. */
  requestsPerSec: number
  /** Requests a peer may send in a burst above the sustained rate. */
  requestBurst: number
  /** Sustained bytes per second received per peer. */
  bytesPerSec: number
  /** Bytes a peer may send in a burst above the sustained rate. */
  byteBurst: number
  /** Peers tracked at once; idle ones are forgotten first (bounded memory). */
  maxPeers: number
}

/**
 * Defaults sized for a personal device: an honest peer sends a few queries a
 * second at most, each a few KB; the limits leave it an order of magnitude.
 */
export const DEFAULT_PEER_LIMITS: PeerLimits = {
  maxStreams: 8,
  requestsPerSec: 20,
  requestBurst: 40,
  bytesPerSec: 256 * 1024,
  byteBurst: 1024 * 1024,
  maxPeers: 4096
}

/** A refused stream, with the reason. */
export class PeerLimitError extends RejectionError<PeerLimitReason> {}

interface PeerBudget {
  open: number
  requests: number
  bytes: number
  at: number
}

/** Token buckets and open-stream counts per peer. */
export class PeerLimiter {
  readonly limits: PeerLimits
  readonly rejections = new RejectionCounter(PEER_LIMIT_REASONS)
  private readonly peers = new Map<string, PeerBudget>()
  private readonly clock: () => number

  constructor (limits: Partial<PeerLimits> = {}, clock: () => number = Date.now) {
    this.limits = { ...DEFAULT_PEER_LIMITS, ...limits }
    this.clock = clock
  }

  /** Peers currently tracked. */
  get tracked (): number {
    return this.peers.size
  }

  /**
   * Takes one request from `peer`'s budget and one open stream; throws
   * {@link PeerLimitError} (counted) when the peer is over a limit. The
   * returned function releases the stream slot.
   */
  acquire (peer: string): () => void {
    const b = this.budget(peer)
    let reason: PeerLimitReason | undefined
    if (b.open >= this.limits.maxStreams) reason = 'streams'
    else if (b.requests < 1) reason = 'rate'
    else if (b.bytes <= 0) reason = 'bytes'
    if (reason != null) {
      this.rejections.count(reason)
      throw new PeerLimitError(reason, `peer over its ${reason} limit`)
    }
    b.requests--
    b.open++
    let released = false
    return () => {
      if (released) return
      released = true
      b.open--
    }
  }

  /** Charges received bytes to `peer` (it may go negative: the next stream is refused until it refills). */
  chargeBytes (peer: string, n: number): void {
    this.budget(peer).bytes -= n
  }

  private budget (peer: string): PeerBudget {
    const now = this.clock()
    let b = this.peers.get(peer)
    if (b == null) {
      if (this.peers.size >= this.limits.maxPeers) this.evict()
      b = { open: 0, requests: this.limits.requestBurst, bytes: this.limits.byteBurst, at: now }
      this.peers.set(peer, b)
      return b
    }
    const dt = Math.max(0, now - b.at) / 1000
    b.requests = Math.min(this.limits.requestBurst, b.requests + dt * this.limits.requestsPerSec)
    b.bytes = Math.min(this.limits.byteBurst, b.bytes + dt * this.limits.bytesPerSec)
    b.at = now
    // Re-insert so the map's order is least recently seen first.
    this.peers.delete(peer)
    this.peers.set(peer, b)
    return b
  }

  /** Forgets the least recently seen peer without open streams (its budget would have refilled anyway). */
  private evict (): void {
    for (const [id, b] of this.peers) {
      if (b.open === 0) {
        this.peers.delete(id)
        return
      }
    }
    // Every tracked peer holds streams: the least recently seen goes.
    const oldest = this.peers.keys().next().value
    if (oldest != null) this.peers.delete(oldest)
  }
}

/**
 * Wraps a query handler with per-peer limits: a stream over a limit gets one
 * error frame (`code: throttled-<reason>`) and is closed, without reading it;
 * bytes read by the handler are charged to the peer as they arrive.
 */
export function limitPerPeer (handler: StreamHandler, limiter: PeerLimiter): StreamHandler {
  return async (stream: Stream, connection: Connection): Promise<void> => {
    const peer = connection.remotePeer.toString()
    let release: () => void
    try {
      release = limiter.acquire(peer)
    } catch (err) {
      const reason = (err as PeerLimitError).reason
      try {
        stream.send(lp.encode.single(new TextEncoder().encode(JSON.stringify({ type: 'response', id: '', status: 'error', code: `throttled-${reason}`, message: `over the per-peer ${reason} limit; try later` }))))
        await stream.close({ signal: AbortSignal.timeout(1_000) })
      } catch {
        stream.abort(new Error('throttled'))
      }
      return
    }
    try {
      await handler(countingStream(stream, n => limiter.chargeBytes(peer, n)), connection)
    } finally {
      release()
    }
  }
}

/** The same stream, with every chunk read through it counted. */
function countingStream (stream: Stream, onBytes: (n: number) => void): Stream {
  return new Proxy(stream, {
    get (target, prop) {
      if (prop === Symbol.asyncIterator) {
        return () => {
          const it = target[Symbol.asyncIterator]()
          return {
            async next (): Promise<IteratorResult<Uint8Array | Uint8ArrayList>> {
              const r = await it.next()
              if (r.done !== true) onBytes(r.value.byteLength)
              return r
            },
            async return (value?: unknown): Promise<IteratorResult<Uint8Array | Uint8ArrayList>> {
              return await (it.return?.(value) ?? Promise.resolve({ done: true, value: undefined }))
            },
            [Symbol.asyncIterator] () { return this }
          }
        }
      }
      const v: unknown = Reflect.get(target, prop, target)
      // Methods run on the real stream: it keeps private state the proxy cannot reach.
      return typeof v === 'function' ? (v as (...args: unknown[]) => unknown).bind(target) : v
    }
  })
}
