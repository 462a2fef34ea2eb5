import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHashEmbedder } from '../../src/core/embedder.js'
import { BucketAnnouncer, BucketProviderCache } from '../../src/net/buckets.js'
import { createPpaiLibp2p, type PpaiLibp2p } from '../../src/net/libp2p.js'
import { RECORD_REJECT_REASONS } from '../../src/net/records.js'
import { RejectionCounter } from '../../src/net/rejections.js'
import { until } from '../support/until.js'

const NETWORK = 'bucket-refresh-test'
const embedder = createHashEmbedder()

describe('background refresh of bucket providers (real DHT on 127.0.0.1)', () => {
  let hub: PpaiLibp2p
  let seeker: PpaiLibp2p
  let provider: PpaiLibp2p
  const announced = 't0:announced'
  const caches: BucketProviderCache[] = []

  beforeAll(async () => {
    const keys = await Promise.all([0, 1, 2].map(async () => await generateKeyPair('Ed25519')))
    const common = { network: NETWORK, embedderId: embedder.id, mdns: false, host: '127.0.0.1' }
    hub = await createPpaiLibp2p({ ...common, privateKey: keys[0], recordRejections: new RejectionCounter(RECORD_REJECT_REASONS) })
    const bootstrap = hub.getMultiaddrs().map(String)
    ;[seeker, provider] = await Promise.all([1, 2].map(async i => await createPpaiLibp2p({ ...common, privateKey: keys[i], bootstrap, recordRejections: new RejectionCounter(RECORD_REJECT_REASONS) })))
    await until(() => hub.getPeers().length >= 2, 10_000, 'both peers to reach the hub by bootstrap')
    await until(async () => (await hub.peerStore.get(provider.peerId)).protocols.includes('/ppai/kad/1.0.0'), 5000, 'identify')
    expect(await new BucketAnnouncer(provider.contentRouting, NETWORK).announce([announced])).toBe(1)
  })

  afterAll(async () => {
    for (const c of caches) c.stop()
    await Promise.all([hub, seeker, provider].filter(n => n != null).map(async n => await n.stop()))
  })

  function cache (init: Partial<ConstructorParameters<typeof BucketProviderCache>[0]>): BucketProviderCache {
    const c = new BucketProviderCache({ routing: seeker.contentRouting, network: NETWORK, selfId: seeker.peerId.toString(), background: { limit: 8, timeoutMs: 2000 }, ...init })
    caches.push(c)
    return c
  }

  it('looks up wanted buckets one per period in the background, not when they are wanted', async () => {
    const c = cache({ backgroundPeriodMs: 300 })
    c.start()
    c.want([announced, 't0:empty-1', 't0:empty-2'])
    // Marking buckets as wanted starts nothing by itself.
    expect(c.backgroundLookups).toBe(0)
    expect(c.stale([announced])).toEqual([announced])
    // The most recently wanted first: the announced bucket was wanted first, so it is the third lookup.
    await until(() => c.backgroundLookups >= 3 && c.stale([announced]).length === 0, 10_000, 'three background lookups')
    expect([...c.hits([announced]).keys()]).toEqual([provider.peerId.toString()])
    expect(c.wantedCount).toBe(0)
    // Fresh now: wanting it again does not look it up again.
    const before = c.backgroundLookups
    c.want([announced])
    await new Promise(resolve => setTimeout(resolve, 1000))
    expect(c.backgroundLookups).toBe(before)
  })

  it('doubles its period while lookups find only known peers, and returns to it when one finds a new peer', async () => {
    let known = true
    const c = cache({ backgroundPeriodMs: 200, maxBackgroundPeriodMs: 800, freshMs: 1, isKnown: () => known })
    c.start()
    c.want([announced])
    await until(() => c.backgroundLookups >= 1 && c.periodMs === 400, 5000, 'the first lookup that found only known peers')
    c.want([announced])
    await until(() => c.backgroundLookups >= 2 && c.periodMs === 800, 5000, 'the second')
    c.want([announced])
    await until(() => c.backgroundLookups >= 3, 5000, 'the third')
    // Capped.
    expect(c.periodMs).toBe(800)
    known = false
    c.want([announced])
    await until(() => c.backgroundLookups >= 4 && c.periodMs === 200, 5000, 'a lookup that found a new peer')
  })

  it('does nothing with a period of 0', async () => {
    const c = cache({ backgroundPeriodMs: 0 })
    c.start()
    c.want([announced])
    await new Promise(resolve => setTimeout(resolve, 500))
    expect(c.backgroundLookups).toBe(0)
    expect(c.wantedCount).toBe(1)
  })
})
