/**
 * Bucket provider records (DESIGN §4): an agent announces itself in the DHT
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

/** Keeps this node announced as a provider of its current bucket keys. */
export class BucketAnnouncer {
  private provided = new Map<string, CID>()

  constructor (private readonly routing: ContentRouting, private readonly network: string) {}

  /** The keys currently announced. */
  get keys (): string[] {
    return [...this.provided.keys()]
  }

  /**
   * Announces `keys` (new ones provided, ones no longer held cancelled).
   * Returns how many provide calls succeeded.
   */
  async announce (keys: string[], opts: { signal?: AbortSignal, force?: boolean } = {}): Promise<number> {
    const wanted = new Set(keys)
    for (const [key, cid] of this.provided) {
      if (!wanted.has(key)) {
        this.provided.delete(key)
        await this.routing.cancelReprovide(cid).catch(() => {})
      }
    }
    let ok = 0
    await mapWithConcurrency([...wanted], 4, async key => {
      if (this.provided.has(key) && opts.force !== true) return
      const cid = await bucketCid(this.network, key)
      try {
        await this.routing.provide(cid, { signal: opts.signal })
        this.provided.set(key, cid)
        ok++
      } catch {
        // No DHT peers yet: the next republish tries again.
      }
    })
    return ok
  }

  /** Stops re-providing every key (remote provider records then expire on their own). */
  async withdraw (): Promise<void> {
    const cids = [...this.provided.values()]
    this.provided.clear()
    await Promise.all(cids.map(async cid => await this.routing.cancelReprovide(cid).catch(() => {})))
  }
}
