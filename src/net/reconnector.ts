/**
 * Keeps a node in the network. libp2p 3 dials the bootstrap peers once, at
 * start; after that only the DHT's own queries dial, and only peers still in
 * its routing table: a node whose connections all close (its peers
 * restarted, a link went down, a partition healed), whose table has lost
 * them and that has no mDNS on its network stays alone for good (the DHT
 * bench saw nodes left with no connection), though it knows where its peers
 * were.
 * The reconnector looks every `periodMs`; while the node has fewer than
 * `below` peers it dials, a few at a time, the bootstrap addresses and the
 * peers of its peer store that have addresses, each with its own backoff
 * (doubling from `periodMs` up to `maxBackoffMs` after every failed dial,
 * cleared by a success), so that a peer gone for good costs a dial now and
 * then, not one a period.
 */
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { Libp2p, PeerId } from '@libp2p/interface'
import type { Logger } from '../log.js'

/** The defaults of {@link ReconnectorOptions}. */
export const RECONNECT_DEFAULTS = { below: 2, periodMs: 5_000, dialsPerCheck: 4, maxBackoffMs: 120_000, dialTimeoutMs: 5_000 } as const

export interface ReconnectorOptions {
  /** Re-dial while connected to fewer peers than this (default 2; 0 turns the reconnector off). */
  below?: number
  /** How often the connections are looked at, ms (default 5,000); also the first backoff after a failed dial. */
  periodMs?: number
  /** Dials started by one look, at most (default 4). */
  dialsPerCheck?: number
  /** The longest wait before a peer that failed is dialled again, ms (default 120,000). */
  maxBackoffMs?: number
  /** One dial gives up after this, ms (default 5,000). */
  dialTimeoutMs?: number
}

/** What the reconnector did, for status views and tests. */
export interface ReconnectStats {
  checks: number
  dials: number
  failed: number
  reconnected: number
}

interface Backoff { nextAt: number, delayMs: number }

export class Reconnector {
  private readonly o: Required<ReconnectorOptions>
  private readonly bootstrap: Array<{ key: string, addr: Multiaddr }>
  private readonly backoff = new Map<string, Backoff>()
  private readonly pending = new Set<string>()
  private timer: ReturnType<typeof setTimeout> | undefined
  private running = false
  private stopped = false
  readonly stats: ReconnectStats = { checks: 0, dials: 0, failed: 0, reconnected: 0 }

  constructor (private readonly libp2p: Libp2p, bootstrap: readonly string[], private readonly log: Logger, opts: ReconnectorOptions = {}) {
    const d = RECONNECT_DEFAULTS
    this.o = {
      below: opts.below ?? d.below,
      periodMs: opts.periodMs ?? d.periodMs,
      dialsPerCheck: opts.dialsPerCheck ?? d.dialsPerCheck,
      maxBackoffMs: opts.maxBackoffMs ?? d.maxBackoffMs,
      dialTimeoutMs: opts.dialTimeoutMs ?? d.dialTimeoutMs
    }
    this.bootstrap = []
    for (const a of bootstrap) {
      try {
        this.bootstrap.push({ key: a, addr: multiaddr(a) })
      } catch (err) {
        this.log.warn({ address: a, err: (err as Error).message }, 'reconnect: a bootstrap address that is not a multiaddr is left out')
      }
    }
  }

  start (): void {
    if (this.running || this.stopped || this.o.below <= 0) return
    this.running = true
    this.schedule()
  }

  stop (): void {
    this.running = false
    this.stopped = true
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
  }

  private schedule (): void {
    if (!this.running) return
    this.timer = setTimeout(() => {
      this.check().catch(err => this.log.debug({ err: (err as Error).message }, 'reconnect: look failed')).finally(() => this.schedule())
    }, this.o.periodMs)
    this.timer.unref?.()
  }

  /** One look: below `below` peers, dials up to `dialsPerCheck` targets whose backoff has passed. Resolves to the dials started. */
  async check (now = Date.now()): Promise<number> {
    this.stats.checks++
    if (this.libp2p.status !== 'started') return 0
    const connected = new Set(this.libp2p.getPeers().map(String))
    if (connected.size >= this.o.below) return 0
    const self = this.libp2p.peerId.toString()
    const targets: Array<{ key: string, dial: PeerId | Multiaddr }> = []
    for (const b of this.bootstrap) {
      const id = b.addr.getComponents().find(c => c.name === 'p2p')?.value
      if (id === self || (id !== undefined && connected.has(id))) continue
      targets.push({ key: id ?? b.key, dial: b.addr })
    }
    const peers = await this.libp2p.peerStore.all({ filters: [p => p.addresses.length > 0 && p.id.toString() !== self] })
    for (const p of peers) if (!connected.has(p.id.toString())) targets.push({ key: p.id.toString(), dial: p.id })
    return this.dialSome(targets, now)
  }

  private dialSome (targets: ReadonlyArray<{ key: string, dial: PeerId | Multiaddr }>, now: number): number {
    let started = 0
    const seen = new Set<string>()
    for (const t of targets) {
      if (started >= this.o.dialsPerCheck || this.stopped) break
      // A bootstrap peer is also in the peer store once known: one dial, by address first.
      if (seen.has(t.key) || this.pending.has(t.key)) continue
      seen.add(t.key)
      const b = this.backoff.get(t.key)
      if (b !== undefined && b.nextAt > now) continue
      started++
      this.dial(t.key, t.dial)
    }
    return started
  }

  private dial (key: string, target: PeerId | Multiaddr): void {
    this.pending.add(key)
    this.stats.dials++
    this.libp2p.dial(target, { signal: AbortSignal.timeout(this.o.dialTimeoutMs) }).then(() => {
      this.backoff.delete(key)
      this.stats.reconnected++
      this.log.info({ peer: key }, 'reconnected to a known peer')
    }, err => {
      this.stats.failed++
      const prev = this.backoff.get(key)
      const delayMs = Math.min(this.o.maxBackoffMs, prev === undefined ? this.o.periodMs : 2 * prev.delayMs)
      this.backoff.set(key, { nextAt: Date.now() + delayMs, delayMs })
      this.log.debug({ peer: key, err: (err as Error).message, retryInMs: delayMs }, 'reconnect: dial failed')
    }).finally(() => this.pending.delete(key))
  }
}
