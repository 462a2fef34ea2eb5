import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PeerId } from '@libp2p/interface'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHashEmbedder } from '../../src/core/embedder.js'
import { encodeProfile } from '../../src/core/profile-codec.js'
import { buildProfile } from '../../src/core/prototypes.js'
import { BucketAnnouncer, findBucketProviders } from '../../src/net/buckets.js'
import { createPpaiLibp2p, type PpaiLibp2p } from '../../src/net/libp2p.js'
import { ProfileDirectory } from '../../src/net/profile-directory.js'
import { RECORD_REJECT_REASONS, profileRecordKey, signProfileRecord } from '../../src/net/records.js'
import { RejectionCounter } from '../../src/net/rejections.js'
import { until } from '../support/until.js'

const NETWORK = 'disc-test'
const embedder = createHashEmbedder()

describe('discovery on 127.0.0.1 (bootstrap + DHT)', () => {
  // hub is the bootstrap peer; seeker and provider both know only the hub, and a gater keeps them apart.
  let hub: PpaiLibp2p
  let seeker: PpaiLibp2p
  let provider: PpaiLibp2p
  let providerId: PeerId
  const counters = [0, 1, 2].map(() => new RejectionCounter(RECORD_REJECT_REASONS))
  let keys: Array<Awaited<ReturnType<typeof generateKeyPair>>>

  beforeAll(async () => {
    keys = await Promise.all([0, 1, 2].map(async () => await generateKeyPair('Ed25519')))
    const common = { network: NETWORK, embedderId: embedder.id, mdns: false, host: '127.0.0.1' }
    hub = await createPpaiLibp2p({ ...common, privateKey: keys[0], recordRejections: counters[0] })
    const bootstrap = hub.getMultiaddrs().map(String)
    const { peerIdFromPrivateKey } = await import('@libp2p/peer-id')
    const seekerId = peerIdFromPrivateKey(keys[1])
    providerId = peerIdFromPrivateKey(keys[2])
    const apart = (other: PeerId) => ({
      denyDialPeer: (p: PeerId) => p.equals(other),
      denyInboundEncryptedConnection: (p: PeerId) => p.equals(other),
      denyOutboundEncryptedConnection: (p: PeerId) => p.equals(other)
    });
    [seeker, provider] = await Promise.all([
      createPpaiLibp2p({ ...common, privateKey: keys[1], bootstrap, recordRejections: counters[1], connectionGater: apart(providerId) }),
      createPpaiLibp2p({ ...common, privateKey: keys[2], bootstrap, recordRejections: counters[2], connectionGater: apart(seekerId) })
    ])
    await until(() => hub.getPeers().length >= 2, 10_000, 'both peers to reach the hub by bootstrap')
    // The DHT learns a peer speaks /ppai/kad/1.0.0 through identify, just after connecting.
    await until(async () => (await hub.peerStore.get(providerId)).protocols.includes('/ppai/kad/1.0.0'), 5000, 'identify')
  })

  afterAll(async () => {
    await Promise.all([hub, seeker, provider].filter(n => n != null).map(async n => await n.stop()))
  })

  it('connects peers through a bootstrap address', () => {
    expect(hub.getPeers().map(String).sort()).toEqual([seeker.peerId.toString(), provider.peerId.toString()].sort())
  })

  it('finds the provider of a bucket through the DHT without ever connecting to it', async () => {
    const profile = buildProfile(embedder.id, embedder.dim, [{ embedding: embedder.embed('quantum mechanics of the hydrogen atom'), outcome: 1 }])
    const announcer = new BucketAnnouncer(provider.contentRouting, NETWORK)
    const key = 't0:test-bucket'
    await until(async () => (await announcer.announce([key])) === 1, 10_000, 'provide to succeed')
    const found = await findBucketProviders(seeker.contentRouting, NETWORK, [key], { timeoutMs: 5000 })
    expect([...found.keys()]).toEqual([provider.peerId.toString()])
    expect(seeker.getConnections(provider.peerId)).toHaveLength(0)

    // Its signed profile record is found in the DHT under the provider's key, and checked.
    const bytes = await signProfileRecord(keys[2], { name: 'p', network: NETWORK, embedderId: embedder.id, version: profile.version, issuedAt: Date.now(), expiresAt: Date.now() + 60_000, profileBytes: encodeProfile(profile) })
    await provider.contentRouting.put(profileRecordKey(NETWORK, provider.peerId.toString()), bytes)
    const dir = new ProfileDirectory({ network: NETWORK, embedderId: embedder.id, selfId: seeker.peerId.toString(), routing: seeker.contentRouting, rejections: counters[1] })
    const rec = await dir.fetch(provider.peerId.toString(), { timeoutMs: 5000 })
    expect(rec?.peerId).toBe(provider.peerId.toString())
    expect(rec?.profile.prototypes).toHaveLength(profile.prototypes.length)
  })
})
