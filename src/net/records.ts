/**
 * Signed profile records: who a peer is (peer id, name, network, embedding
 * space) and what it is good at (its encoded profile), signed with the peer's
 * key, versioned and expiring. Checked on every receipt — from the DHT and
 * from gossip — and every rejection has a named, counted reason.
 */
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { RejectionError } from '../core/errors.js'
import { decodeProfile } from '../core/profile-codec.js'
import type { Profile } from '../core/types.js'
import { ProfileRecordBodySchema, ProfileRecordEnvelopeSchema, type ProfileRecordBody } from './frames.js'
import type { RejectionCounter } from './rejections.js'

export const RECORD_REJECT_REASONS = ['unsigned', 'bad-signature', 'wrong-peer', 'expired', 'replay', 'other-network', 'other-embedder', 'malformed'] as const
/** Why a profile record was refused. */
export type RecordRejectReason = (typeof RECORD_REJECT_REASONS)[number]

/** DHT key namespace of profile records: keys are `/ppai-profile/<network>/<peer id>`. */
export const PROFILE_KEY_NAMESPACE = 'ppai-profile'
/** Clock skew tolerated on `issuedAt`, ms. */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000

/** Domain separation, so a profile signature can never be replayed as another kind of signed message. */
const SIGNING_PREFIX = new TextEncoder().encode('ppai-profile-record/1\n')

/** A profile record refused, with its reason. */
export class RecordRejectedError extends RejectionError<RecordRejectReason> {}

/** The fields of a profile record that its owner signs. */
export interface RecordToSign {
  name: string
  network: string
  embedderId: string
  version: number
  issuedAt: number
  expiresAt: number
  /** The encoded profile bytes, as signed. */
  profileBytes: Uint8Array
}

/** A verified profile record: the signed fields, the signer, and the decoded profile. */
export interface ProfileRecord extends RecordToSign {
  peerId: string
  profile: Profile
}

/** What the receiver expects of a record. */
export interface RecordExpectation {
  network: string
  embedderId: string
  /** Receiver's clock, ms. */
  now: number
  /** The peer the record must be about (from the DHT key or the gossip signer). */
  peerId?: string
  /** The newest version already accepted from this peer: older ones are replays. */
  knownVersion?: number
  /** The issuedAt of that newest version: the same version re-issued earlier is a replay too. */
  knownIssuedAt?: number
}

/** Signs a record with the peer's key; the result is the bytes that go into the DHT and gossip. */
export async function signProfileRecord (privateKey: PrivateKey, rec: RecordToSign): Promise<Uint8Array> {
  const body: ProfileRecordBody = {
    kind: 'ppai-profile/1',
    peerId: peerIdFromPrivateKey(privateKey).toString(),
    name: rec.name,
    network: rec.network,
    embedderId: rec.embedderId,
    version: rec.version,
    issuedAt: Math.floor(rec.issuedAt),
    expiresAt: Math.floor(rec.expiresAt),
    profile: Buffer.from(rec.profileBytes).toString('base64')
  }
  const text = JSON.stringify(body)
  const signature = await privateKey.sign(signingBytes(text))
  return new TextEncoder().encode(JSON.stringify({ body: text, signature: Buffer.from(signature).toString('base64') }))
}

/**
 * Parses and checks a record; throws {@link RecordRejectedError} with the
 * reason. Checks run from cheap to costly, the signature before anything that
 * trusts the body's content.
 */
export async function openProfileRecord (bytes: Uint8Array, expect: RecordExpectation): Promise<ProfileRecord> {
  let envelope: { body: string, signature?: string }
  let body: ProfileRecordBody
  try {
    envelope = ProfileRecordEnvelopeSchema.parse(JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)))
    body = ProfileRecordBodySchema.parse(JSON.parse(envelope.body))
  } catch (err) {
    throw new RecordRejectedError('malformed', (err as Error).message.slice(0, 200))
  }
  if (envelope.signature == null || envelope.signature === '') throw new RecordRejectedError('unsigned', `record of ${body.peerId} carries no signature`)
  if (expect.peerId != null && body.peerId !== expect.peerId) throw new RecordRejectedError('wrong-peer', `record names ${body.peerId}, expected ${expect.peerId}`)
  let ok: boolean
  try {
    const publicKey = peerIdFromString(body.peerId).publicKey
    if (publicKey == null) throw new Error('peer id does not embed a public key')
    ok = await publicKey.verify(signingBytes(envelope.body), Buffer.from(envelope.signature, 'base64'))
  } catch (err) {
    throw new RecordRejectedError('bad-signature', `cannot verify: ${(err as Error).message}`)
  }
  if (!ok) throw new RecordRejectedError('bad-signature', `signature does not match ${body.peerId}`)
  if (body.network !== expect.network) throw new RecordRejectedError('other-network', `record of network ${body.network}, this is ${expect.network}`)
  if (body.embedderId !== expect.embedderId) throw new RecordRejectedError('other-embedder', `embedder ${body.embedderId}, network uses ${expect.embedderId}`)
  if (body.expiresAt <= expect.now) throw new RecordRejectedError('expired', `expired ${expect.now - body.expiresAt} ms ago`)
  if (body.issuedAt > expect.now + MAX_CLOCK_SKEW_MS || body.expiresAt < body.issuedAt) throw new RecordRejectedError('malformed', 'issuedAt in the future or after expiresAt')
  if (expect.knownVersion != null && (body.version < expect.knownVersion ||
      (body.version === expect.knownVersion && expect.knownIssuedAt != null && body.issuedAt < expect.knownIssuedAt))) {
    throw new RecordRejectedError('replay', `version ${body.version} (issued ${body.issuedAt}) is older than the known ${expect.knownVersion}`)
  }
  const profileBytes = new Uint8Array(Buffer.from(body.profile, 'base64'))
  let profile: Profile
  try {
    profile = decodeProfile(profileBytes)
  } catch (err) {
    throw new RecordRejectedError('malformed', `profile: ${(err as Error).message}`)
  }
  if (profile.embedderId !== body.embedderId) throw new RecordRejectedError('other-embedder', `profile in ${profile.embedderId}, record says ${body.embedderId}`)
  return { peerId: body.peerId, name: body.name, network: body.network, embedderId: body.embedderId, version: body.version, issuedAt: body.issuedAt, expiresAt: body.expiresAt, profileBytes, profile }
}

/** Opens a record, counting a rejection by its reason before rethrowing. */
export async function openCounted (bytes: Uint8Array, expect: RecordExpectation, counter: RejectionCounter<RecordRejectReason>): Promise<ProfileRecord> {
  try {
    return await openProfileRecord(bytes, expect)
  } catch (err) {
    if (err instanceof RecordRejectedError) counter.count(err.reason)
    throw err
  }
}

/** The DHT key of a peer's profile record. */
export function profileRecordKey (network: string, peerId: string): Uint8Array {
  return new TextEncoder().encode(`/${PROFILE_KEY_NAMESPACE}/${network}/${peerId}`)
}

/** Splits a DHT key back into network and peer id; undefined when it is not a profile key. */
export function parseProfileRecordKey (key: Uint8Array): { network: string, peerId: string } | undefined {
  const parts = new TextDecoder().decode(key).split('/')
  if (parts.length !== 4 || parts[0] !== '' || parts[1] !== PROFILE_KEY_NAMESPACE) return undefined
  return { network: parts[2], peerId: parts[3] }
}

/**
 * The kad-dht validator of the profile namespace: a record is stored or
 * accepted from the DHT only when it checks out for the key's peer.
 */
export function profileRecordValidator (opts: { network: string, embedderId: string, counter: RejectionCounter<RecordRejectReason>, clock?: () => number }) {
  const clock = opts.clock ?? Date.now
  return async (key: Uint8Array, value: Uint8Array): Promise<void> => {
    const parsed = parseProfileRecordKey(key)
    if (parsed == null) {
      opts.counter.count('malformed')
      throw new RecordRejectedError('malformed', 'not a profile record key')
    }
    if (parsed.network !== opts.network) {
      opts.counter.count('other-network')
      throw new RecordRejectedError('other-network', `key of network ${parsed.network}`)
    }
    await openCounted(value, { network: opts.network, embedderId: opts.embedderId, now: clock(), peerId: parsed.peerId }, opts.counter)
  }
}

/** The kad-dht selector of the profile namespace: the highest version, then the latest issued; unreadable records lose. */
export function profileRecordSelector (_key: Uint8Array, records: Uint8Array[]): number {
  let best = 0
  let bestRank: [number, number] = [-1, -1]
  records.forEach((bytes, i) => {
    const rank = rankOf(bytes)
    if (rank[0] > bestRank[0] || (rank[0] === bestRank[0] && rank[1] > bestRank[1])) {
      best = i
      bestRank = rank
    }
  })
  return best
}

function rankOf (bytes: Uint8Array): [number, number] {
  try {
    const env = ProfileRecordEnvelopeSchema.parse(JSON.parse(new TextDecoder().decode(bytes)))
    const body = ProfileRecordBodySchema.parse(JSON.parse(env.body))
    return [body.version, body.issuedAt]
  } catch {
    return [-1, -1]
  }
}

function signingBytes (bodyText: string): Uint8Array {
  const text = new TextEncoder().encode(bodyText)
  const out = new Uint8Array(SIGNING_PREFIX.length + text.length)
  out.set(SIGNING_PREFIX)
  out.set(text, SIGNING_PREFIX.length)
  return out
}
