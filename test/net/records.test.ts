import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterAll, describe, expect, it } from 'vitest'
import { createHashEmbedder } from '../../src/core/embedder.js'
import { encodeProfile } from '../../src/core/profile-codec.js'
import { buildProfile } from '../../src/core/prototypes.js'
import { loadOrCreateIdentity } from '../../src/net/identity.js'
import { openCounted, openProfileRecord, profileRecordKey, profileRecordSelector, profileRecordValidator, RECORD_REJECT_REASONS, RecordRejectedError, signProfileRecord, type RecordRejectReason } from '../../src/net/records.js'
import { RejectionCounter } from '../../src/net/rejections.js'

const embedder = createHashEmbedder()
const profile = buildProfile(embedder.id, embedder.dim, ['What is the derivative of x squared?', 'Integrate sin x from 0 to pi', 'Who wrote Hamlet?'].map(q => ({ embedding: embedder.embed(q), outcome: 1 })))
const NOW = 1_800_000_000_000
const base = { name: 'alice', network: 'testnet', embedderId: embedder.id, version: 3, issuedAt: NOW - 1000, expiresAt: NOW + 60_000, profileBytes: encodeProfile(profile) }
const expect0 = { network: 'testnet', embedderId: embedder.id, now: NOW }

async function reasonOf (p: Promise<unknown>): Promise<RecordRejectReason | 'accepted'> {
  try {
    await p
    return 'accepted'
  } catch (err) {
    if (err instanceof RecordRejectedError) return err.reason
    throw err
  }
}

function mutateEnvelope (bytes: Uint8Array, f: (env: { body: string, signature?: string }) => void): Uint8Array {
  const env = JSON.parse(new TextDecoder().decode(bytes))
  f(env)
  return new TextEncoder().encode(JSON.stringify(env))
}

const dirs: string[] = []
afterAll(async () => { await Promise.all(dirs.map(async d => await rm(d, { recursive: true, force: true }))) })

describe('identity', () => {
  it('creates a key with mode 0600 on first start and is the same peer after a restart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ppai-id-'))
    dirs.push(dir)
    const first = await loadOrCreateIdentity(join(dir, 'node'))
    expect(first.created).toBe(true)
    expect((await stat(first.keyPath)).mode & 0o777).toBe(0o600)
    const again = await loadOrCreateIdentity(join(dir, 'node'))
    expect(again.created).toBe(false)
    expect(again.peerId.toString()).toBe(first.peerId.toString())
  })
})

describe('signed profile records', () => {
  it('opens a record signed by its peer and returns the decoded profile', async () => {
    const key = await generateKeyPair('Ed25519')
    const rec = await openProfileRecord(await signProfileRecord(key, base), { ...expect0, peerId: peerIdFromPrivateKey(key).toString() })
    expect(rec.peerId).toBe(peerIdFromPrivateKey(key).toString())
    expect(rec.version).toBe(3)
    expect(rec.profile.prototypes.length).toBe(profile.prototypes.length)
  })

  it('rejects forged, tampered, expired, replayed and foreign records, each with its reason, and counts them', async () => {
    const alice = await generateKeyPair('Ed25519')
    const mallory = await generateKeyPair('Ed25519')
    const aliceId = peerIdFromPrivateKey(alice).toString()
    const good = await signProfileRecord(alice, base)
    const counter = new RejectionCounter(RECORD_REJECT_REASONS)
    const open = async (bytes: Uint8Array, extra: Partial<typeof expect0 & { peerId: string, knownVersion: number }> = {}): Promise<string> => await reasonOf(openCounted(bytes, { ...expect0, ...extra }, counter))

    // Mallory signs a record that claims to be Alice's.
    const forged = mutateEnvelope(await signProfileRecord(mallory, base), env => {
      const body = JSON.parse(env.body)
      body.peerId = aliceId
      env.body = JSON.stringify(body)
    })
    expect(await open(forged, { peerId: aliceId })).toBe('bad-signature')
    // Alice's record with a version bumped after signing.
    const tampered = mutateEnvelope(good, env => { env.body = env.body.replace('"version":3', '"version":9') })
    expect(await open(tampered)).toBe('bad-signature')
    expect(await open(mutateEnvelope(good, env => { delete env.signature }))).toBe('unsigned')
    expect(await open(good, { peerId: peerIdFromPrivateKey(mallory).toString() })).toBe('wrong-peer')
    expect(await open(good, { now: NOW + 120_000 })).toBe('expired')
    expect(await open(good, { knownVersion: 4 })).toBe('replay')
    expect(await open(await signProfileRecord(alice, { ...base, network: 'othernet' }))).toBe('other-network')
    expect(await open(await signProfileRecord(alice, { ...base, embedderId: 'other-embedder-d64' }))).toBe('other-embedder')
    expect(await open(new TextEncoder().encode('{"body": 42}'))).toBe('malformed')
    expect(await open(await signProfileRecord(alice, { ...base, profileBytes: new Uint8Array([1, 2, 3]) }))).toBe('malformed')
    expect(await open(good, { peerId: aliceId, knownVersion: 3 })).toBe('accepted')

    const counts = counter.snapshot()
    expect(counts).toEqual({ unsigned: 1, 'bad-signature': 2, 'wrong-peer': 1, expired: 1, replay: 1, 'other-network': 1, 'other-embedder': 1, malformed: 2 })
  })

  it('validates DHT records against the peer named in the key, and selects the newest version', async () => {
    const alice = await generateKeyPair('Ed25519')
    const bob = await generateKeyPair('Ed25519')
    const counter = new RejectionCounter(RECORD_REJECT_REASONS)
    const validate = profileRecordValidator({ network: 'testnet', embedderId: embedder.id, counter, clock: () => NOW })
    const aliceKey = profileRecordKey('testnet', peerIdFromPrivateKey(alice).toString())
    const v3 = await signProfileRecord(alice, base)
    const v5 = await signProfileRecord(alice, { ...base, version: 5 })
    await expect(validate(aliceKey, v3)).resolves.toBeUndefined()
    await expect(validate(aliceKey, await signProfileRecord(bob, base))).rejects.toMatchObject({ reason: 'wrong-peer' })
    await expect(validate(profileRecordKey('othernet', peerIdFromPrivateKey(alice).toString()), v3)).rejects.toMatchObject({ reason: 'other-network' })
    expect(counter.get('wrong-peer')).toBe(1)
    expect(counter.get('other-network')).toBe(1)
    expect(profileRecordSelector(aliceKey, [v3, v5, new Uint8Array([0])])).toBe(1)
  })
})
