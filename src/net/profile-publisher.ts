/**
 * A node's own profile on the network: the signed record in the DHT and on
 * the profile gossip topic, the bucket provider records of its prototypes,
 * the checks on the records others gossip, republication when the profile
 * drifts, and the withdrawal when the node stops.
 */
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { PrivateKey } from '@libp2p/interface'
import type { BucketCode } from '../core/bucket-code.js'
import { encodeProfile } from '../core/profile-codec.js'
import type { CandidateIndex } from '../core/retrieval.js'
import type { Profile } from '../core/types.js'
import type { Logger } from '../log.js'
import { BucketAnnouncer } from './buckets.js'
import type { PpaiLibp2p } from './libp2p.js'
import type { ProfileDirectory } from './profile-directory.js'
import { RecordRejectedError, profileRecordKey, signProfileRecord, type RecordRejectReason } from './records.js'
import type { RejectionCounter } from './rejections.js'

/** A record with less life left than this is a withdrawal (a stopping node re-issues its record to expire at once), ms. */
export const WITHDRAWAL_MS = 5000

export interface ProfilePublisherInit {
  libp2p: PpaiLibp2p
  key: PrivateKey
  name: string
  network: string
  embedderId: string
  /** The own profile as it is now (it learns in place). */
  profile: () => Profile
  code: BucketCode
  /** Tables of the bucket code announced in the DHT. */
  dhtTables: number
  recordTtlMs: number
  /** Least time between two publications caused by the profile's drift, ms. */
  republishMs: number
  /** Where accepted gossip records go: the directory checks them, the index offers them as candidates. */
  directory: ProfileDirectory
  index: CandidateIndex
  recordRejections: RejectionCounter<RecordRejectReason>
  /** Aborted when the node stops. */
  signal: AbortSignal
  log: Logger
}

export class ProfilePublisher {
  readonly topic: string
  private readonly announcer: BucketAnnouncer
  private announcing?: Promise<void>
  private recordVersion = -1
  private lastPublishedAt = 0
  private republishTimer?: NodeJS.Timeout
  private dirtyTimer?: NodeJS.Timeout
  private regossipTimer?: NodeJS.Timeout
  private stopped = false

  constructor (private readonly init: ProfilePublisherInit) {
    this.topic = `/ppai/${init.network}/profiles/1`
    this.announcer = new BucketAnnouncer(init.libp2p.contentRouting, init.network)
  }

  /** Joins the gossip topic, publishes (now and once peers connect) and republishes at half the record's life. */
  start (): void {
    this.startGossip()
    // First publication in the background: it needs DHT peers, which arrive with bootstrap.
    void this.publishSoon()
    this.republishTimer = setInterval(() => { void this.publish().catch(err => this.init.log.warn({ err: (err as Error).message }, 'republish failed')) }, Math.max(1000, this.init.recordTtlMs / 2))
    this.republishTimer.unref()
  }

  async publish (): Promise<void> {
    if (this.stopped) return
    const { libp2p, network, log } = this.init
    const profile = this.init.profile()
    const now = Date.now()
    const bytes = await this.sign(now, now + this.init.recordTtlMs)
    this.recordVersion = profile.version
    this.lastPublishedAt = now
    const signal = AbortSignal.any([this.init.signal, AbortSignal.timeout(10_000)])
    const results = await Promise.allSettled([
      libp2p.contentRouting.put(profileRecordKey(network, libp2p.peerId.toString()), bytes, { signal }),
      libp2p.services.pubsub.publish(this.topic, bytes)
    ])
    const failed = results.filter(r => r.status === 'rejected').map(r => ((r as PromiseRejectedResult).reason as Error).message)
    log.debug({ version: profile.version, failed }, 'profile record published')
    // Bucket provider records go out in the background: tens of DHT provides, not worth holding the caller.
    // The announcer queues them (a few at a time) and merges a call made while a pass runs into the next pass.
    const keys = this.ownBucketKeys()
    const announcing: Promise<void> = this.announcer.announce(keys, { signal: this.init.signal })
      .then(n => log.debug({ buckets: keys.length, provided: n, missing: this.announcer.missing.length }, 'bucket provider records published'))
      .catch(() => {})
      .finally(() => { if (this.announcing === announcing) this.announcing = undefined })
    this.announcing = announcing
  }

  /** Resolves when the bucket provider records in flight have gone out (tests and the demo wait on it). */
  async announced (): Promise<void> {
    while (this.announcing != null) await this.announcing
  }

  bucketAnnouncements (): { keys: number, announced: number, failedProvides: number } {
    const keys = this.ownBucketKeys()
    const provided = new Set(this.announcer.keys)
    return { keys: keys.length, announced: keys.filter(k => provided.has(k)).length, failedProvides: this.announcer.stats.failed }
  }

  /**
   * Own profile changed: republish after a short quiet period, and no sooner
   * than `republishMs` after the last publication — with feedback on every
   * answer the profile changes every few seconds, while peers need only its
   * drift (their own observations of this node weigh more).
   */
  changed (): void {
    if (this.dirtyTimer != null || this.stopped) return
    const delay = Math.max(2000, this.lastPublishedAt + this.init.republishMs - Date.now())
    this.dirtyTimer = setTimeout(() => {
      this.dirtyTimer = undefined
      if (this.init.profile().version !== this.recordVersion) void this.publish().catch(() => {})
    }, delay)
    this.dirtyTimer.unref()
  }

  /** Stops publishing and withdraws what can be: no more bucket provides, and a record that expires at once. */
  async withdraw (): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    clearInterval(this.republishTimer)
    clearTimeout(this.dirtyTimer)
    clearTimeout(this.regossipTimer)
    const { libp2p, network } = this.init
    try {
      const now = Date.now()
      const tombstone = await this.sign(now, now + WITHDRAWAL_MS / 2)
      await Promise.allSettled([
        libp2p.contentRouting.put(profileRecordKey(network, libp2p.peerId.toString()), tombstone, { signal: AbortSignal.timeout(1000) }),
        libp2p.services.pubsub.publish(this.topic, tombstone),
        this.announcer.withdraw()
      ])
    } catch (err) {
      this.init.log.debug({ err: (err as Error).message }, 'withdraw incomplete')
    }
  }

  /** Bucket keys of the own prototypes, in the tables the node announces in the DHT. */
  private ownBucketKeys (): string[] {
    const { code, dhtTables } = this.init
    return [...new Set(this.init.profile().prototypes.flatMap(p => code.keysFor(p.centroid).slice(0, dhtTables)))]
  }

  private async sign (issuedAt: number, expiresAt: number): Promise<Uint8Array> {
    const profile = this.init.profile()
    return await signProfileRecord(this.init.key, {
      name: this.init.name,
      network: this.init.network,
      embedderId: this.init.embedderId,
      version: profile.version,
      issuedAt,
      expiresAt,
      profileBytes: encodeProfile(profile)
    })
  }

  /** Publishes once now and again shortly after peers first connect, so early records are not lost for want of DHT peers. */
  private async publishSoon (): Promise<void> {
    const { libp2p, log } = this.init
    const tryPublish = async (): Promise<void> => {
      if (this.stopped) return
      await this.publish().catch(err => log.debug({ err: (err as Error).message }, 'early publish failed'))
    }
    let republishedOnConnect = false
    const onConnect = (): void => {
      if (republishedOnConnect) return
      republishedOnConnect = true
      libp2p.removeEventListener('peer:connect', onConnect)
      // Give identify a moment so the DHT knows the new peer speaks its protocol; once more when the routing table has filled.
      setTimeout(() => { void tryPublish() }, 300).unref()
      setTimeout(() => { void tryPublish() }, 5000).unref()
    }
    libp2p.addEventListener('peer:connect', onConnect)
    await tryPublish()
  }

  private startGossip (): void {
    const { libp2p, directory, index, recordRejections } = this.init
    const pubsub = libp2p.services.pubsub
    pubsub.topicValidators.set(this.topic, async (_peer, msg) => {
      if (msg.type !== 'signed') {
        recordRejections.count('unsigned')
        return TopicValidatorResult.Reject
      }
      if (msg.from.equals(libp2p.peerId)) return TopicValidatorResult.Ignore
      try {
        const rec = await directory.accept(msg.data, msg.from.toString())
        // A record about to expire is a leaving peer's withdrawal: stop offering it as a candidate.
        if (rec.expiresAt - Date.now() < WITHDRAWAL_MS) index.remove(rec.peerId)
        else index.upsert(rec.peerId, rec.profile)
        return TopicValidatorResult.Accept
      } catch (err) {
        // Replays are ignored rather than punished: gossip may deliver an old record late.
        if (err instanceof RecordRejectedError && err.reason === 'replay') return TopicValidatorResult.Ignore
        return TopicValidatorResult.Reject
      }
    })
    pubsub.subscribe(this.topic)
    // A peer that joins the topic has missed earlier records: re-gossip ours (at most every few seconds).
    pubsub.addEventListener('subscription-change', evt => {
      if (!evt.detail.subscriptions.some(s => s.subscribe && s.topic === this.topic)) return
      this.regossipSoon()
    })
  }

  /** Gossips the current record again after a short delay, coalescing the requests of several newcomers. */
  private regossipSoon (): void {
    if (this.regossipTimer != null || this.stopped) return
    this.regossipTimer = setTimeout(() => {
      this.regossipTimer = undefined
      if (this.stopped) return
      const now = Date.now()
      void this.sign(now, now + this.init.recordTtlMs)
        .then(async bytes => await this.init.libp2p.services.pubsub.publish(this.topic, bytes))
        .catch(err => this.init.log.debug({ err: (err as Error).message }, 're-gossip failed'))
    }, 1500)
    this.regossipTimer.unref()
  }
}
