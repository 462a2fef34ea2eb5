/**
 * Bucket provider records (ARCHITECTURE.md §4): an agent announces itself in the DHT
 * as a provider of the locality-sensitive bucket keys of its prototypes, so a
 * query finds tens of candidates by probing a few buckets instead of asking
 * every agent.
 */
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import type { ContentRouting, PeerId } from '@libp2p/interface'
import { mapWithConcurrency } from './concurrency.js'

/** The CID under which providers of one bucket of one network are found: sha256(network + '/' + key). */
export async function bucketCid (network: string, key: string): Promise<CID> {
  const digest = await sha256.digest(new TextEncoder().encode(`ppai-bucket/${network}/${key}`))
  return CID.createV1(raw.code, digest)
}

export interface ProviderLookupOptions {
  /** Stop after this many distinct providers (default 32). */
  limit?: number
  /** Time for the whole lookup, ms (default 2000). */
  timeoutMs?: number
  /** Peers to leave out (e.g. self). */
  exclude?: Set<string>
  /** Lookups in flight at once (default 4). */
  concurrency?: number
}

/**
 * Finds the providers of some bucket keys, all lookups in parallel, and
 * returns the distinct peer ids with how many of the keys each provides.
 */
export async function findBucketProviders (routing: ContentRouting, network: string, keys: string[], opts: ProviderLookupOptions = {}): Promise<Map<string, { peerId: PeerId, hits: number }>> {
  const limit = opts.limit ?? 32
  const found = new Map<string, { peerId: PeerId, hits: number }>()
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(), opts.timeoutMs ?? 2000)
  try {
    await mapWithConcurrency(keys, opts.concurrency ?? 4, async key => {
      if (controller.signal.aborted) return
      const cid = await bucketCid(network, key)
      try {
        for await (const provider of routing.findProviders(cid, { signal: controller.signal })) {
          const id = provider.id.toString()
          if (opts.exclude?.has(id) === true) continue
          const entry = found.get(id)
          if (entry != null) entry.hits++
          else found.set(id, { peerId: provider.id, hits: 1 })
          if (found.size >= limit) controller.abort()
        }
      } catch {
        // A lookup that times out or finds nothing leaves the others' results.
      }
    })
  } finally {
    clearTimeout(timer)
  }
  return found
}

/** Provides in flight at once per node (default of {@link BucketAnnouncer}). */
export const DEFAULT_PROVIDE_CONCURRENCY = 4

/**
 * Longest one provide may take, ms (default of {@link BucketAnnouncer}): kad-dht bounds a query only when the caller
 * passes no signal, and the announcer passes the node's stop signal, so without it one slow walk would hold a pass, and
 * every key queued behind it, for as long as the walk's peers keep answering late. A provide that runs out is counted
 * as failed and tried again by the next pass.
 */
export const DEFAULT_PROVIDE_TIMEOUT_MS = 60_000

/**
 * Keeps this node announced as a provider of its current bucket keys: every
 * key of every table, however many.
 *
 * A provide is a DHT walk plus an ADD_PROVIDER to each of the closest peers:
 * up to two kad streams to one peer. kad-dht refuses more than
 * `maxInboundStreams` kad streams per connection (32 by default, 64 here), so
 * a node that provided its 64 keys at once would be refused by its closest
 * peers. The announcer therefore queues: the wanted keys are provided
 * `concurrency` at a time (4: at most 8 streams to one peer; with kad-dht's
 * own re-provides and the bounded bucket lookups, a node stays under the 64
 * a peer accepts, libp2p.ts), and a call that comes
 * while a pass is running is merged into the next pass, never dropped.
 */
export class BucketAnnouncer {
  private provided = new Map<string, CID>()
  private wanted = new Set<string>()
  private force = false
  private signal?: AbortSignal
  private passing?: Promise<void>
  /** A call came during the running pass: another pass follows it. */
  private again = false
  readonly stats = { provided: 0, failed: 0, passes: 0 }
  private readonly concurrency: number
  private readonly timeoutMs: number

  constructor (private readonly routing: ContentRouting, private readonly network: string, opts: { concurrency?: number, timeoutMs?: number } = {}) {
    this.concurrency = Math.max(1, opts.concurrency ?? DEFAULT_PROVIDE_CONCURRENCY)
    this.timeoutMs = Math.max(1, opts.timeoutMs ?? DEFAULT_PROVIDE_TIMEOUT_MS)
  }

  /** The keys currently announced. */
  get keys (): string[] {
    return [...this.provided.keys()]
  }

  /** Keys wanted but not (yet) announced: a provide failed, or the pass is still running. */
  get missing (): string[] {
    return [...this.wanted].filter(key => !this.provided.has(key))
  }

  /**
   * Announces `keys`: new ones are provided, ones no longer held cancelled.
   * Resolves when they have been tried once (the pass that includes this
   * call has ended); returns how many provides succeeded in the passes this
   * call waited for. Keys whose provide failed are tried again by the next call.
   */
  async announce (keys: string[], opts: { signal?: AbortSignal, force?: boolean } = {}): Promise<number> {
    this.wanted = new Set(keys)
    for (const [key, cid] of this.provided) {
      if (!this.wanted.has(key)) {
        this.provided.delete(key)
        await this.routing.cancelReprovide(cid).catch(() => {})
      }
    }
    if (opts.force === true) this.force = true
    if (opts.signal != null) this.signal = opts.signal
    if (this.passing != null) {
      // Merged into the pass after the running one.
      this.again = true
      const before = this.stats.provided
      while (this.passing != null) await this.passing
      return this.stats.provided - before
    }
    const before = this.stats.provided
    this.passing = this.run().finally(() => { this.passing = undefined })
    await this.passing
    return this.stats.provided - before
  }

  /** Passes until no call came during the last one. */
  private async run (): Promise<void> {
    do {
      this.again = false
      await this.pass()
    } while (this.again && this.signal?.aborted !== true)
  }

  /** Provides every wanted key not provided yet (all of them when forced), `concurrency` at a time. */
  private async pass (): Promise<void> {
    const force = this.force
    this.force = false
    this.stats.passes++
    const todo = [...this.wanted].filter(key => force || !this.provided.has(key))
    await mapWithConcurrency(todo, this.concurrency, async key => {
      // A key withdrawn while queued, or the node stopping: skip.
      if (!this.wanted.has(key) || this.signal?.aborted === true) return
      const cid = await bucketCid(this.network, key)
      try {
        const timeout = AbortSignal.timeout(this.timeoutMs)
        await this.routing.provide(cid, { signal: this.signal != null ? AbortSignal.any([this.signal, timeout]) : timeout })
        if (!this.wanted.has(key)) {
          await this.routing.cancelReprovide(cid).catch(() => {})
          return
        }
        this.provided.set(key, cid)
        this.stats.provided++
      } catch {
        // No DHT peers yet: the next call tries again.
        this.stats.failed++
      }
    })
  }

  /** Stops re-providing every key (remote provider records then expire on their own). */
  async withdraw (): Promise<void> {
    const cids = [...this.provided.values()]
    this.provided.clear()
    this.wanted.clear()
    await Promise.all(cids.map(async cid => await this.routing.cancelReprovide(cid).catch(() => {})))
  }
}

/** Base period of the background refresh of wanted buckets, ms. */
export const DEFAULT_BACKGROUND_PERIOD_MS = 10_000

export interface BucketProviderCacheInit {
  routing: ContentRouting
  network: string
  selfId: string
  /** How long a bucket's provider list counts as fresh, ms (default 60 s: provider records live 10 min and a departed peer is caught by a failed dial). */
  freshMs?: number
  /** Lookups a waiting query may start per second at most (default 4; bursts of twice that). */
  lookupsPerSec?: number
  /** Period of the background refresh while it discovers peers: one wanted stale bucket looked up per period, ms (default 10 s; 0 = none). A lookup of a bucket walks the DHT, a stream to each of several peers: tens of ms of CPU over the network. */
  backgroundPeriodMs?: number
  /** The period doubles after each background lookup that found no unknown peer, up to this, ms (default 5 min, the provider records' republication period). */
  maxBackgroundPeriodMs?: number
  /** Whether a peer is known already (e.g. its profile came by gossip): lookups that find only known peers slow the background refresh down. */
  isKnown?: (peerId: string) => boolean
  /** Lookup options of the background refresh. */
  background?: { limit: number, timeoutMs: number }
  /** A wanted bucket not looked up within this long is dropped: no recent query needs it, ms (default 60 s). */
  wantedMs?: number
  /** Buckets remembered as wanted at most (default 256, the newest kept). */
  maxWanted?: number
  /** Lookups in flight at most (default 8). */
  maxInFlight?: number
  /** Bounded memory: the cache is cleared when it holds more buckets than this (default 4096). */
  maxBuckets?: number
}

/**
 * Provider lists of buckets, looked up in the DHT and reused while fresh.
 * A query that knows too few candidates waits for a lookup (deduplicated per
 * bucket, limited in rate and number); otherwise it only marks its stale
 * buckets as wanted, and a background timer looks up one of them per period.
 * The period doubles while lookups find only peers already known (gossip
 * brought them) and returns to its base when one finds a new peer. So the DHT
 * work of candidate discovery is bounded per node and per second and spent
 * where it discovers something, not paid per query: a lookup walks the DHT (a
 * stream to each of several peers) and costs far more CPU than a query.
 */
export class BucketProviderCache {
  private readonly lists = new Map<string, { at: number, peers: string[] }>()
  private readonly inFlight = new Map<string, Promise<void>>()
  /** Stale buckets queries probed, by when they were last wanted (insertion order: oldest first). */
  private readonly wanted = new Map<string, number>()
  private tokens: number
  private tokensAt = Date.now()
  private timer?: NodeJS.Timeout
  private running = false
  /** The background refresh's current period, ms. */
  periodMs: number
  /** Lookups started by the background refresh. */
  backgroundLookups = 0

  constructor (private readonly init: BucketProviderCacheInit) {
    this.tokens = 2 * (init.lookupsPerSec ?? 4)
    this.periodMs = init.backgroundPeriodMs ?? DEFAULT_BACKGROUND_PERIOD_MS
  }

  /** Starts the background refresh of wanted buckets (a no-op when its period is 0). */
  start (): void {
    if (this.running || this.periodMs <= 0) return
    this.running = true
    this.schedule()
  }

  stop (): void {
    this.running = false
    clearTimeout(this.timer)
    this.timer = undefined
    this.wanted.clear()
  }

  private schedule (): void {
    if (!this.running) return
    this.timer = setTimeout(() => {
      void this.refreshOneWanted().finally(() => { this.schedule() })
    }, this.periodMs)
    this.timer.unref()
  }

  /** Marks stale buckets a query probed, for the background refresh. */
  want (keys: string[]): void {
    const now = Date.now()
    for (const key of keys) {
      this.wanted.delete(key)
      this.wanted.set(key, now)
    }
    const max = this.init.maxWanted ?? 256
    for (const key of this.wanted.keys()) {
      if (this.wanted.size <= max) break
      this.wanted.delete(key)
    }
  }

  /** How many buckets wait for the background refresh. */
  get wantedCount (): number {
    return this.wanted.size
  }

  /** Looks up the most recently wanted bucket that is still stale and not being looked up; adapts the period to what it found. */
  private async refreshOneWanted (): Promise<void> {
    const wantedMs = this.init.wantedMs ?? 60_000
    const now = Date.now()
    const entries = [...this.wanted]
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, wantedAt] = entries[i]
      this.wanted.delete(key)
      if (this.inFlight.has(key) || this.stale([key]).length === 0) continue
      // Wanted long ago: no recent query needs it any more.
      if (now - wantedAt > wantedMs) continue
      this.backgroundLookups++
      await this.lookup(key, this.init.background ?? { limit: 32, timeoutMs: 2000 })
      const isKnown = this.init.isKnown
      const base = this.init.backgroundPeriodMs ?? DEFAULT_BACKGROUND_PERIOD_MS
      const discovered = isKnown == null || (this.lists.get(key)?.peers ?? []).some(id => !isKnown(id))
      this.periodMs = discovered ? base : Math.min(this.init.maxBackgroundPeriodMs ?? 300_000, 2 * this.periodMs)
      return
    }
  }

  /** The buckets among `keys` whose provider list is missing or older than `freshMs`. */
  stale (keys: string[]): string[] {
    const now = Date.now()
    const freshMs = this.init.freshMs ?? 60_000
    return keys.filter(key => {
      const hit = this.lists.get(key)
      return hit == null || now - hit.at >= freshMs
    })
  }

  /** Per known provider of `keys` (fresh or not), how many of the keys it provides. */
  hits (keys: string[]): Map<string, number> {
    const out = new Map<string, number>()
    for (const key of keys) {
      for (const p of this.lists.get(key)?.peers ?? []) out.set(p, (out.get(p) ?? 0) + 1)
    }
    return out
  }

  /** Looks up the providers of `keys` within the rate budget; resolves when those lookups end. */
  async refresh (keys: string[], opts: { limit: number, timeoutMs: number }): Promise<void> {
    await mapWithConcurrency(keys, 4, async key => {
      const p = this.inFlight.get(key) ?? (this.inFlight.size >= (this.init.maxInFlight ?? 8) || !this.takeToken() ? undefined : this.lookup(key, opts))
      await p
    })
  }

  /** One bucket's lookup, deduplicated while in flight. */
  private async lookup (key: string, opts: { limit: number, timeoutMs: number }): Promise<void> {
    const p = findBucketProviders(this.init.routing, this.init.network, [key], { limit: opts.limit, timeoutMs: opts.timeoutMs, exclude: new Set([this.init.selfId]) })
      .then(found => {
        if (this.lists.size > (this.init.maxBuckets ?? 4096)) this.lists.clear()
        this.lists.set(key, { at: Date.now(), peers: [...found.keys()] })
      })
      .catch(() => {})
      .finally(() => this.inFlight.delete(key))
    this.inFlight.set(key, p)
    await p
  }

  private takeToken (): boolean {
    const rate = this.init.lookupsPerSec ?? 4
    const now = Date.now()
    this.tokens = Math.min(2 * rate, this.tokens + (now - this.tokensAt) * rate / 1000)
    this.tokensAt = now
    if (this.tokens < 1) return false
    this.tokens--
    return true
  }
}
