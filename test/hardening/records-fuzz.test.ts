import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import * as lp from 'it-length-prefixed'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createInstantBackend } from '../../src/agent/instant.js'
import { createHashEmbedder } from '../../src/core/embedder.js'
import { encodeProfile } from '../../src/core/profile-codec.js'
import { buildProfile } from '../../src/core/prototypes.js'
import { seededRng } from '../../src/core/rng.js'
import { beaconTopic } from '../../src/net/beacons.js'
import { KAD_PROTOCOL } from '../../src/net/frames.js'
import type { PpaiLibp2p } from '../../src/net/libp2p.js'
import { createPpaiNode, type PpaiNode } from '../../src/net/node.js'
import { readFrame } from '../../src/net/query-protocol.js'
import { profileRecordKey, signProfileRecord, type RecordToSign } from '../../src/net/records.js'
import { bareLibp2p, boundedPool, connectAndIdentify, heapAfterGc, kadPutValue, until } from './support.js'

const NETWORK = 'records-test'
const PROFILE_TOPIC = `/ppai/${NETWORK}/profiles/1`
const embedder = createHashEmbedder()
/** Junk gossip messages, half on the profile topic and half on the beacon topic. */
const GOSSIP_JUNK = 10_000
/** Junk DHT PUT_VALUE records, one per kad stream (kad-dht aborts a stream on a rejected record). */
const DHT_JUNK = 10_000
/** Kad streams the attacker keeps open at once. */
const DHT_PARALLEL = 8
const BUDGET_MS = 40_000
const HEAP_BOUND = 48 * 1024 * 1024
/**
 * Heap the DHT junk may leave after a full GC: kad-dht keeps ~2 KB per inbound stream until its 10 s message timeout fires
 * (kad-stream-guard.ts), so 10,000 streams sent faster than that hold up to ~20 MB; without the guard it was ~11 KB each.
 */
const DHT_HEAP_BOUND = 24 * 1024 * 1024

function mutate (bytes: Uint8Array, f: (env: { body: string, signature?: string }) => void): Uint8Array {
  const env = JSON.parse(new TextDecoder().decode(bytes)) as { body: string, signature?: string }
  f(env)
  return new TextEncoder().encode(JSON.stringify(env))
}

function junk (rng: () => number, n: number): Uint8Array {
  return Uint8Array.from({ length: n }, () => Math.floor(rng() * 256))
}

describe('profile records and gossip from a hostile peer', () => {
  let victim: PpaiNode
  let attacker: PpaiLibp2p
  let attackerKey: PrivateKey
  let base: RecordToSign

  beforeAll(async () => {
    victim = await createPpaiNode({ name: 'victim', network: NETWORK, mdns: false, host: '127.0.0.1', logLevel: 'silent', backend: createInstantBackend({ label: 'victim' }) })
    attackerKey = await generateKeyPair('Ed25519')
    attacker = await bareLibp2p(NETWORK, attackerKey)
    attacker.services.pubsub.subscribe(PROFILE_TOPIC)
    await connectAndIdentify(attacker, victim.libp2p)
    await until(() => attacker.services.pubsub.getSubscribers(PROFILE_TOPIC).some(p => p.equals(victim.libp2p.peerId)) &&
      attacker.services.pubsub.getSubscribers(beaconTopic(NETWORK)).some(p => p.equals(victim.libp2p.peerId)), 10_000, 'the victim\'s subscriptions')
    const now = Date.now()
    const profile = buildProfile(embedder.id, embedder.dim, ['What is a black hole?', 'Who wrote Hamlet?'].map(q => ({ embedding: embedder.embed(q), outcome: 1 })))
    base = { name: 'attacker', network: NETWORK, embedderId: embedder.id, version: 5, issuedAt: now, expiresAt: now + 120_000, profileBytes: encodeProfile(profile) }
  })
  afterAll(async () => { await Promise.all([victim?.stop(), attacker?.stop()]) })

  const gossip = async (bytes: Uint8Array): Promise<void> => { await attacker.services.pubsub.publish(PROFILE_TOPIC, bytes) }
  const recordCount = (): Record<string, number> => victim.rejections().records

  it('rejects every forged kind of record by gossip, each for its reason, and keeps the newest real one', async () => {
    const stranger = await generateKeyPair('Ed25519')
    const now = Date.now()
    // A real record first (version 5), so that an older version is a replay.
    await gossip(await signProfileRecord(attackerKey, base))
    await until(() => victim.peers().some(p => p.peerId === attacker.peerId.toString() && p.profileVersion === 5), 5_000, 'the real record')
    const forged: Array<[string, Uint8Array]> = [
      ['unsigned', mutate(await signProfileRecord(attackerKey, base), env => { delete env.signature })],
      ['bad-signature', mutate(await signProfileRecord(attackerKey, base), env => { env.body = env.body.replace('"version":5', '"version":6') })],
      ['wrong-peer', await signProfileRecord(stranger, base)],
      ['expired', await signProfileRecord(attackerKey, { ...base, version: 7, issuedAt: now - 60_000, expiresAt: now - 1_000 })],
      ['replay', await signProfileRecord(attackerKey, { ...base, version: 3 })],
      ['other-network', await signProfileRecord(attackerKey, { ...base, version: 8, network: 'another-net' })],
      ['other-embedder', await signProfileRecord(attackerKey, { ...base, version: 9, embedderId: 'minilm-l6-d384' })],
      ['malformed', new TextEncoder().encode('{"body": 42}')]
    ]
    for (const [reason, bytes] of forged) {
      const before = recordCount()[reason]
      await gossip(bytes)
      await until(() => recordCount()[reason] === before + 1, 5_000, `a ${reason} rejection`)
    }
    expect(victim.peers().find(p => p.peerId === attacker.peerId.toString())?.profileVersion).toBe(5)
  })

  it('rejects every forged kind of record put into its DHT store, each for its reason', async () => {
    const stranger = await generateKeyPair('Ed25519')
    const now = Date.now()
    const key = profileRecordKey(NETWORK, attacker.peerId.toString())
    const forged: Array<[string, Uint8Array, Uint8Array]> = [
      ['unsigned', key, mutate(await signProfileRecord(attackerKey, base), env => { delete env.signature })],
      ['bad-signature', key, mutate(await signProfileRecord(attackerKey, base), env => { env.body = env.body.replace('"version":5', '"version":6') })],
      ['wrong-peer', key, await signProfileRecord(stranger, base)],
      ['expired', key, await signProfileRecord(attackerKey, { ...base, issuedAt: now - 60_000, expiresAt: now - 1_000 })],
      ['other-network', profileRecordKey('another-net', attacker.peerId.toString()), await signProfileRecord(attackerKey, base)],
      ['other-network', key, await signProfileRecord(attackerKey, { ...base, network: 'another-net' })],
      ['other-embedder', key, await signProfileRecord(attackerKey, { ...base, embedderId: 'minilm-l6-d384' })],
      ['malformed', key, new TextEncoder().encode('not json')]
    ]
    for (const [reason, k, value] of forged) {
      const before = recordCount()[reason]
      await putRaw(k, value)
      await until(() => recordCount()[reason] === before + 1, 5_000, `a ${reason} rejection from the DHT`)
    }
  })

  it('survives 10,000 junk gossip messages and 10,000 junk DHT records, counting each, with a bounded heap', async () => {
    const rng = seededRng('records-fuzz')
    const before = victim.rejections()
    const heapBefore = heapAfterGc()
    const t0 = Date.now()
    // Gossip: random bytes, random JSON-ish text and truncated real records, on the profile and the beacon topics.
    const real = await signProfileRecord(attackerKey, base)
    const sum = (o: Record<string, number>): number => Object.values(o).reduce((a, b) => a + b, 0)
    const counted = (): number => sum(victim.rejections().records) - sum(before.records) + sum(victim.rejections().beacons) - sum(before.beacons)
    let gossipSent = 0
    for (let i = 0; i < GOSSIP_JUNK && Date.now() < t0 + BUDGET_MS; i++) {
      const kind = i % 3
      const data = kind === 0 ? junk(rng, 1 + Math.floor(rng() * 200)) : kind === 1 ? new TextEncoder().encode(`{"peerId":"${i}","backlog":${-i}}`) : real.subarray(0, Math.floor(rng() * (real.length - 1)))
      await attacker.services.pubsub.publish(i % 2 === 0 ? PROFILE_TOPIC : beaconTopic(NETWORK), data)
      gossipSent++
      // Gossip has no flow control (an outbound buffer over its cap drops the stream): keep at most 200 messages unprocessed.
      if (gossipSent % 100 === 0) {
        const until = Date.now() + 5_000
        while (counted() < gossipSent - 200 && Date.now() < until) await new Promise(resolve => setTimeout(resolve, 10))
      }
    }
    const profileJunk = Math.ceil(gossipSent / 2)
    const beaconJunk = gossipSent - profileJunk
    // Wait until every message is counted, or until the counts stop moving (then the assertions below say what is missing).
    for (let last = -1, quietSince = Date.now(); counted() < gossipSent && Date.now() - quietSince < 3_000 && Date.now() - t0 < 60_000;) {
      await new Promise(resolve => setTimeout(resolve, 100))
      if (counted() !== last) { last = counted(); quietSince = Date.now() }
    }
    const afterGossip = victim.rejections()
    const heapAfterGossip = heapAfterGc()
    const tDht = Date.now()
    // DHT: PUT_VALUE messages whose record is random bytes, each on its own kad stream.
    const key = profileRecordKey(NETWORK, attacker.peerId.toString())
    const dhtSent = await boundedPool(DHT_JUNK, DHT_PARALLEL, Date.now() + BUDGET_MS, async () => { await putRaw(key, junk(rng, 1 + Math.floor(rng() * 500))) })
    await until(() => victim.rejections().records.malformed - afterGossip.records.malformed >= dhtSent, 10_000, 'every junk DHT record counted')
    const dhtMs = Date.now() - tDht
    const heapAfter = heapAfterGc()
    const after = victim.rejections()
    const guard = victim.libp2p.services.kadGuard.stats()
    const mb = (b: number): string => (b / 1e6).toFixed(1)
    console.log(`records fuzz: ${gossipSent} gossip + ${dhtSent} DHT (${dhtMs} ms, ${DHT_PARALLEL} streams in parallel) in ${Date.now() - t0} ms; records ${JSON.stringify(after.records)}; beacons ${JSON.stringify(after.beacons)}; ` +
      `heap growth ${mb(heapAfter - heapBefore)} MB (gossip ${mb(heapAfterGossip - heapBefore)} MB, DHT ${mb(heapAfter - heapAfterGossip)} MB = ${((heapAfter - heapAfterGossip) / dhtSent).toFixed(0)} B per record); kad streams handled ${guard.handled}, attached ${guard.attached}`)

    expect(gossipSent).toBe(GOSSIP_JUNK)
    expect(dhtSent).toBe(DHT_JUNK)
    // Exactly one counted rejection per junk message, no more (nothing double-counted), no fewer (nothing slipped through).
    expect(sum(after.records) - sum(before.records)).toBe(profileJunk + dhtSent)
    expect(sum(after.beacons) - sum(before.beacons)).toBe(beaconJunk)
    expect(heapAfter - heapBefore).toBeLessThan(HEAP_BOUND)
    // Every junk kad stream went through the guard, and none is still held by kad-dht's handler.
    expect(guard.handled).toBeGreaterThanOrEqual(dhtSent)
    expect(guard.attached).toBe(0)
    expect(heapAfter - heapAfterGossip).toBeLessThan(DHT_HEAP_BOUND)
    // Still a working node: a real record is accepted afterwards.
    await gossip(await signProfileRecord(attackerKey, { ...base, version: 10, issuedAt: Date.now(), expiresAt: Date.now() + 60_000 }))
    await until(() => victim.peers().some(p => p.peerId === attacker.peerId.toString() && p.profileVersion === 10), 5_000, 'a real record after the fuzz')
  }, 90_000)

  /** Sends one PUT_VALUE on a fresh kad stream and waits for the reply or the abort. */
  async function putRaw (key: Uint8Array, value: Uint8Array): Promise<void> {
    const stream = await attacker.dialProtocol(victim.libp2p.peerId, KAD_PROTOCOL, { signal: AbortSignal.timeout(5_000) })
    try {
      stream.send(lp.encode.single(kadPutValue(key, value)))
      await readFrame(stream).catch(() => undefined)
    } finally {
      stream.abort(new Error('done'))
    }
  }
})
