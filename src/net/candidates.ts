/**
 * A query's candidates on the real network (ARCHITECTURE.md, "A query's
 * path"): providers of its probe buckets in the DHT, peers whose profiles
 * gossip brought (the in-memory index), and connected peers that serve
 * queries when those are too few. It also keeps what the query path learns
 * of each peer's reachability: a smoothed round-trip time, and peers left
 * out for a while after a dial or stream failure.
 */
import type { LoadBeliefs } from '../core/beliefs.js'
import type { BucketCode } from '../core/bucket-code.js'
import type { CandidateIndex } from '../core/retrieval.js'
import { shuffled } from '../core/rng.js'
import type { Profile, Rng } from '../core/types.js'
import type { BucketProviderCache } from './buckets.js'
import { QUERY_PROTOCOL } from './frames.js'
import type { PpaiLibp2p } from './libp2p.js'
import type { ProfileDirectory } from './profile-directory.js'

/** What the policy is given of one candidate. */
export interface CandidateInfo {
  id: string
  profile?: Profile
  rttMs: number
  serviceMs?: number
}

export interface CandidateFinderComponents {
  libp2p: PpaiLibp2p
  code: BucketCode
  index: CandidateIndex
  providers: BucketProviderCache
  directory: ProfileDirectory
  /** The decider's load beliefs: a candidate's believed service time. */
  beliefs: LoadBeliefs
  /** The node's random source (shared with its decider, so a run's draws keep their order). */
  rng: Rng
}

export interface CandidateFinderInit {
  /** Candidates scored per query. */
  maxCandidates: number
  /** A query waits for the DHT only while it knows fewer candidates than this. */
  minCandidates: number
  /** Neighbouring buckets probed per table. */
  probeFlipBits: number
  /** Tables of the bucket code used in the DHT. */
  dhtTables: number
  /** How long a peer that failed is left out, ms. */
  downMs: number
}

/** Round-trip time assumed for a peer never measured, ms. */
const DEFAULT_RTT_MS = 20

/** Peers with an open connection, counted without building peer ids (libp2p's getPeers() decodes each). */
export function connectedPeerCount (libp2p: PpaiLibp2p): number {
  return new Set(libp2p.getConnections().map(c => c.remotePeer.toString())).size
}

export class CandidateFinder {
  private readonly down = new Map<string, number>()
  private readonly rtt = new Map<string, number>()
  private readonly afterQuery: Array<() => void> = []
  private queryPeersCache?: { at: number, ids: string[] }

  constructor (private readonly components: CandidateFinderComponents, private readonly init: CandidateFinderInit) {}

  /**
   * Candidates for a query. Provider lookups are cached per bucket and
   * refreshed in the background; a query waits for the DHT only while it
   * knows fewer than `minCandidates` peers (or fewer than it is connected
   * to, in a smaller network).
   */
  async find (embedding: Float32Array, timeoutMs: number): Promise<CandidateInfo[]> {
    const { libp2p, code, index, providers, directory, beliefs, rng } = this.components
    const self = libp2p.peerId.toString()
    const limit = this.init.maxCandidates
    // Own bucket per table plus its two least certain neighbours: 3 × tables DHT lookups (cached), not 9 × tables.
    const keys = code.probeKeys(embedding, { radius: 1, flipBits: this.init.probeFlipBits }).filter(key => tableOf(key) < this.init.dhtTables)
    const stale = providers.stale(keys)
    const refreshOpts = { limit: limit * 2, timeoutMs: Math.max(timeoutMs, 1000) }
    let hits = providers.hits(keys)
    const fromIndex = index.candidates(embedding, limit)
    const usable = (id: string): boolean => id !== self && (this.down.get(id) ?? 0) <= Date.now()
    const connected = (await this.queryPeers()).filter(usable)
    const known = new Set([...hits.keys(), ...fromIndex, ...connected].filter(usable)).size
    // Wait for the DHT only when what is at hand (buckets cached, gossip, connections) is too thin.
    if (known < Math.min(this.init.minCandidates, connectedPeerCount(libp2p)) && stale.length > 0) {
      await Promise.race([providers.refresh(stale, refreshOpts), new Promise(resolve => setTimeout(resolve, timeoutMs).unref())])
      hits = providers.hits(keys)
    } else if (stale.length > 0) {
      // Not needed now: the background refresh looks these buckets up at its own pace (a lookup per query would cost more CPU than the query).
      providers.want(stale)
    }
    // Providers of more of the probed buckets first: they are nearer the query.
    const ranked = [...hits.entries()].sort((a, b) => b[1] - a[1]).map(([id]) => id)
    let live = [...new Set([...ranked.slice(0, limit), ...fromIndex, ...ranked.slice(limit)])].filter(usable).slice(0, limit * 2)
    // Too few near the query (e.g. newcomers with empty profiles): add connected peers that serve queries, so they get tried now and then.
    const wanted = this.init.minCandidates
    if (live.length < wanted) {
      const extra = connected.filter(id => !live.includes(id))
      live = live.concat(shuffled(extra, rng).slice(0, wanted - live.length))
    }
    return live.map(id => {
      const rec = directory.get(id)
      // A profile not at hand is fetched from the DHT for later queries; this one scores the peer from the prior and observations.
      if (rec == null) {
        this.afterQuery.push(() => { void directory.fetch(id, { timeoutMs: Math.max(timeoutMs, 1000) }).then(fetched => { if (fetched != null) index.upsert(id, fetched.profile) }) })
      }
      return { id, profile: rec?.profile, rttMs: this.rtt.get(id) ?? DEFAULT_RTT_MS, serviceMs: beliefs.serviceMs(id) }
    })
  }

  /** A peer answered: its round trip (latency less its queueing and work) is smoothed in, and it is usable again. */
  answered (peer: string, rttMs: number): void {
    this.rtt.set(peer, 0.8 * (this.rtt.get(peer) ?? rttMs) + 0.2 * rttMs)
    this.down.delete(peer)
  }

  /** A dial or stream to the peer failed: it is left out for a while (churn); unreachable, its profile is forgotten too (gossip or the DHT bring it back). */
  failed (peer: string, unreachable: boolean): void {
    this.down.set(peer, Date.now() + this.init.downMs)
    if (unreachable) {
      this.components.index.remove(peer)
      this.components.directory.forget(peer)
    }
  }

  /** Background work deferred by a query (profile fetches), started once it is answered. */
  runAfterQuery (): void {
    // Bounded: under many concurrent queries only the newest deferred work is kept; stale buckets come round again.
    const work = this.afterQuery.splice(0).slice(-256)
    if (work.length > 0) setImmediate(() => { for (const w of work) w() })
  }

  /** Connected peers whose identify says they speak the query protocol. */
  private async queryPeers (): Promise<string[]> {
    // Cached for a second: asked on every query, and the peer store is async.
    if (this.queryPeersCache != null && Date.now() - this.queryPeersCache.at < 1000) return this.queryPeersCache.ids
    const { libp2p } = this.components
    const out: string[] = []
    for (const peer of libp2p.getPeers()) {
      try {
        const info = await libp2p.peerStore.get(peer)
        if (info.protocols.includes(QUERY_PROTOCOL)) out.push(peer.toString())
      } catch {
        // Not in the peer store (yet): skip.
      }
    }
    this.queryPeersCache = { at: Date.now(), ids: out }
    return out
  }
}

/** The table index of a bucket key (`t3:0a1f` → 3). */
function tableOf (key: string): number {
  const m = /^t(\d+):/.exec(key)
  return m == null ? 0 : Number(m[1])
}
