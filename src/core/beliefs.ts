/**
 * Beliefs about the backlog of remote peers (ARCHITECTURE.md §5).
 *
 * Load is never observed in time: a beacon says what the backlog was when it
 * was sent. A belief carries that value forward as a queue would evolve — the
 * mean relaxes toward the stationary M/M/1 backlog (or grows at arrival minus
 * service when the peer is overloaded) and the variance grows with age — and
 * is corrected by what this node sees itself: fast "busy" refusals (an exact
 * reading) and response times (a noisy reading of the backlog at send time).
 *
 * Pure: every method takes the caller's clock; memory is bounded by `maxPeers`.
 * The records live in `PeerRecords` (core/peer-records.ts: flat arrays, a
 * recency order, a hash table of peer indices); the queue of beacon expiries
 * in an `ExpiryHeap` (core/expiry-heap.ts); the queue model in
 * core/queue-model.ts.
 */
import { ExpiryHeap } from './expiry-heap.js'
import { NONE, PeerRecords } from './peer-records.js'
import { carryInto, expectedRivals } from './queue-model.js'
import type { Belief, LoadBeacon } from './types.js'

export { BeliefsInputError, type BeliefsInputReason } from './peer-records.js'
export { carryForward, expectedRivals } from './queue-model.js'

/** Configuration of {@link LoadBeliefs}. */
export interface LoadBeliefsInit {
  /** Belief about a peer nothing is known of. Default 1. */
  priorBacklog?: number
  /** Variance of that prior. Default 4. */
  priorVariance?: number
  /** Peers remembered at most; the least recently updated is forgotten first. Default 1024. */
  maxPeers?: number
  /** A beacon whose `sentAt` lies within this many ms before its arrival is dated by `sentAt` (same clock, e.g. the simulator); otherwise by its arrival. Default 30 000. */
  maxClockSkewMs?: number
  /** Variance of a backlog read from a refusal (the count is exact, but a moment old). Default 0.25. */
  refusalVariance?: number
  /** Beacons older than this no longer count toward {@link LoadBeliefs.estimateRivals}. Default 60 000. */
  beaconExpiryMs?: number
  /** Without a known service time a reading cannot be carried forward; it relaxes toward the prior with this time constant, ms. Default 10 000. */
  priorRelaxMs?: number
  /**
   * A dense index the caller keeps of the peer ids it passes: a distinct
   * non-negative integer per id, the same for the beliefs' whole life (e.g. the
   * simulator's agent index). Records are then found through a table of
   * integers instead of a map of strings (see core/peer-records.ts). Default:
   * none, a map.
   */
  peerIndex?: (peerId: string) => number
  /**
   * Keep the last beacon heard of each peer remembered ({@link LoadBeliefs.lastBeacon}),
   * for a node's status views; forgotten with the peer. Default false (the
   * simulator's beliefs keep none).
   */
  keepBeacons?: boolean
}

/** What a response from a peer revealed: the time from send to answer, and the network part of it. */
export interface ResponseTiming {
  latencyMs: number
  rttMs: number
}

/*
 * A peer's record (in PeerRecords), its fields in order: the estimate (mean,
 * variance, its local clock `at`); the queue dynamics (serviceMs, NaN when
 * unknown; whether it came from a beacon, 1/0; arrival rate per second); the
 * local clock of the last beacon (NaN: none yet); the sender's clock of the
 * newest beacon applied (NaN: none), so that a beacon heard twice is applied
 * once; the arrival rate this record adds to the running sum of fresh rates
 * (0: not counted); and which expiry-heap entry is its current one (stamp).
 */
const MEAN = 0
const VARIANCE = 1
const AT = 2
const SERVICE = 3
const SERVICE_FROM_BEACON = 4
const ARRIVAL = 5
const BEACON_AT = 6
const BEACON_SENT_AT = 7
const COUNTED = 8
const STAMP = 9
const FIELDS = 10

/** carryForward's result, reused by the class's own calls (pure: nothing outlives a call). */
const carried = { mean: 0, variance: 0 }

/**
 * What this node believes about the current backlog of each peer.
 *
 * Feed it beacons ({@link onBeacon}), refusals ({@link onRefusal}) and response
 * times ({@link onResponse}); ask {@link belief} at decision time.
 */
export class LoadBeliefs {
  private readonly records: PeerRecords
  /** With `keepBeacons`: slot -> the last beacon heard of its peer. */
  private readonly beacons: Array<LoadBeacon | undefined> | undefined
  private readonly priorBacklog: number
  private readonly priorVariance: number
  private readonly maxPeers: number
  private readonly maxClockSkewMs: number
  private readonly refusalVariance: number
  private readonly beaconExpiryMs: number
  private readonly priorRelaxMs: number
  /**
   * The rivals' estimate is kept incrementally (O(log peers) per update, O(1)
   * per decision instead of a loop over every peer): the sum of the arrival
   * rates of peers with fresh beacons, and a min-heap of when each counted
   * beacon expires (received at, slot, stamp; an entry whose stamp is no
   * longer its slot's is stale). `horizon` is the latest `now` asked; an
   * earlier one rebuilds.
   */
  private freshRateSum = 0
  private freshCount = 0
  private readonly expiry = new ExpiryHeap()
  private horizon = -Infinity
  private nextStamp = 0
  private updatesSinceExactSum = 0

  constructor (init: LoadBeliefsInit = {}) {
    this.priorBacklog = init.priorBacklog ?? 1
    this.priorVariance = init.priorVariance ?? 4
    this.maxPeers = Math.max(1, init.maxPeers ?? 1024)
    this.maxClockSkewMs = init.maxClockSkewMs ?? 30_000
    this.refusalVariance = init.refusalVariance ?? 0.25
    this.beaconExpiryMs = init.beaconExpiryMs ?? 60_000
    this.priorRelaxMs = init.priorRelaxMs ?? 10_000
    this.records = new PeerRecords(FIELDS, init.peerIndex)
    this.beacons = init.keepBeacons === true ? [] : undefined
  }

  /** Number of peers remembered. */
  get size (): number {
    return this.records.size
  }

  /**
   * A beacon arrived. It replaces the estimate unless this node already knows
   * something newer (a beacon that overtook it, or its own observation).
   */
  onBeacon (beacon: LoadBeacon, receivedAt: number): void {
    const slot = this.records.find(beacon.peerId)
    this.keepBeacon(this.applyBeacon(beacon, receivedAt, slot === NONE ? undefined : slot), beacon)
  }

  /**
   * {@link onBeacon}, unless a beacon of this peer sent at the same time or
   * later was already applied (one heard twice, e.g. by gossip and again
   * with a refusal); true when applied. One lookup for both steps.
   */
  onNewBeacon (beacon: LoadBeacon, receivedAt: number): boolean {
    const known = this.records.find(beacon.peerId)
    if (known !== NONE && this.records.rec[known * FIELDS + BEACON_SENT_AT] >= beacon.sentAt) {
      this.keepBeacon(known, beacon)
      return false
    }
    this.keepBeacon(this.applyBeacon(beacon, receivedAt, known === NONE ? undefined : known), beacon)
    return true
  }

  /** The last beacon heard of `peerId` (with `keepBeacons`; undefined otherwise, or when none was heard). */
  lastBeacon (peerId: string): LoadBeacon | undefined {
    if (this.beacons === undefined) return undefined
    const slot = this.records.find(peerId)
    return slot === NONE ? undefined : this.beacons[slot]
  }

  /** With `keepBeacons`, remembers `beacon` as the last heard of the peer in `slot` (NONE: none). */
  private keepBeacon (slot: number, beacon: LoadBeacon): void {
    if (this.beacons !== undefined && slot !== NONE) this.beacons[slot] = beacon
  }

  /** {@link onBeacon} for the peer's slot (undefined: not known yet); returns the slot, NONE when the beacon was unusable. */
  private applyBeacon (beacon: LoadBeacon, receivedAt: number, known: number | undefined): number {
    // Frames are validated at the edge; a non-finite value here is a bug upstream, not information.
    if (!(Number.isFinite(beacon.backlog) && Number.isFinite(beacon.serviceMs) && Number.isFinite(beacon.sentAt) && Number.isFinite(receivedAt))) return NONE
    const skew = receivedAt - beacon.sentAt
    const at = skew >= 0 && skew <= this.maxClockSkewMs ? beacon.sentAt : receivedAt
    const arrivalPerSec = Math.max(0, Number.isFinite(beacon.arrivalPerSec) ? beacon.arrivalPerSec : 0)
    if (known === undefined) {
      const slot = this.allocate(beacon.peerId)
      const r = slot * FIELDS
      const rec = this.records.rec
      rec[r + MEAN] = Math.max(0, beacon.backlog)
      rec[r + VARIANCE] = 0
      rec[r + AT] = at
      rec[r + SERVICE] = beacon.serviceMs > 0 ? beacon.serviceMs : NaN
      rec[r + SERVICE_FROM_BEACON] = beacon.serviceMs > 0 ? 1 : 0
      rec[r + ARRIVAL] = arrivalPerSec
      rec[r + BEACON_AT] = receivedAt
      rec[r + BEACON_SENT_AT] = beacon.sentAt
      this.touch(slot, false)
      return slot
    }
    const r = known * FIELDS
    const rec = this.records.rec
    if (beacon.serviceMs > 0) rec[r + SERVICE] = beacon.serviceMs
    if (rec[r + AT] > at) {
      // Older than what we hold: keep the estimate, but learn the rates.
      if (beacon.serviceMs > 0) rec[r + SERVICE_FROM_BEACON] = 1
      rec[r + ARRIVAL] = arrivalPerSec
      // Math.max(undefined as -Infinity, t): a NaN (no beacon yet) gives way to any time.
      const beaconAt = rec[r + BEACON_AT]
      rec[r + BEACON_AT] = Number.isNaN(beaconAt) ? receivedAt : Math.max(beaconAt, receivedAt)
      if (!(rec[r + BEACON_SENT_AT] >= beacon.sentAt)) rec[r + BEACON_SENT_AT] = beacon.sentAt
      this.touch(known, true)
      return known
    }
    rec[r + MEAN] = Math.max(0, beacon.backlog)
    rec[r + VARIANCE] = 0
    rec[r + AT] = at
    if (beacon.serviceMs > 0) rec[r + SERVICE_FROM_BEACON] = 1
    rec[r + ARRIVAL] = arrivalPerSec
    rec[r + BEACON_AT] = receivedAt
    if (!(rec[r + BEACON_SENT_AT] >= beacon.sentAt)) rec[r + BEACON_SENT_AT] = beacon.sentAt
    this.touch(known, true)
    return known
  }

  /** The peer refused a query as busy and reported its backlog: an exact, fresh reading. */
  onRefusal (peerId: string, reportedBacklog: number, now: number): void {
    let slot = this.records.find(peerId)
    const known = slot !== NONE
    if (slot === NONE) {
      slot = this.allocate(peerId)
      this.blank(slot)
    }
    const r = slot * FIELDS
    const rec = this.records.rec
    rec[r + MEAN] = Math.max(0, reportedBacklog)
    rec[r + VARIANCE] = this.refusalVariance
    rec[r + AT] = now
    this.touch(slot, known)
  }

  /**
   * A peer answered. The time it spent beyond the round trip is the queue
   * ahead plus one service: it implies the backlog when the query was sent,
   * a noisy reading (a sum of k+1 service times has variance ≈ k+1 services²)
   * that is blended with the belief at that time (a Kalman step).
   */
  onResponse (peerId: string, timing: ResponseTiming, now: number): void {
    let slot = this.records.find(peerId)
    const spentMs = Math.max(0, timing.latencyMs - timing.rttMs)
    let rec = this.records.rec
    if (slot === NONE || Number.isNaN(rec[slot * FIELDS + SERVICE]) || rec[slot * FIELDS + SERVICE_FROM_BEACON] === 0) {
      // No service time from a beacon: the fastest answer seen bounds it from
      // above, and a backlog read against a bound would be biased, so none is.
      const known = slot !== NONE
      if (slot === NONE) {
        slot = this.allocate(peerId)
        this.blank(slot)
        rec = this.records.rec
        rec[slot * FIELDS + MEAN] = this.priorBacklog
        rec[slot * FIELDS + VARIANCE] = this.priorVariance
        rec[slot * FIELDS + AT] = now
      }
      const r = slot * FIELDS
      const service = rec[r + SERVICE]
      if (spentMs > 0) rec[r + SERVICE] = Math.min(Number.isNaN(service) ? Infinity : service, spentMs)
      this.touch(slot, known)
      return
    }
    const r = slot * FIELDS
    const sentAt = now - timing.latencyMs
    // What the query saw is older than the estimate held (a later beacon or refusal): nothing to add.
    if (sentAt < rec[r + AT]) return
    const serviceMs = rec[r + SERVICE]
    const arrival = rec[r + ARRIVAL]
    const implied = Math.max(0, spentMs / serviceMs - 1)
    const obsVariance = implied + 1
    const at = sentAt
    carryInto(carried, rec[r + MEAN], rec[r + VARIANCE], at - rec[r + AT], arrival, serviceMs)
    const gain = carried.variance / (carried.variance + obsVariance)
    const meanAtSend = carried.mean + gain * (implied - carried.mean)
    const varianceAtSend = (1 - gain) * carried.variance
    // Served since it was sent: the backlog it saw has partly drained.
    carryInto(carried, meanAtSend, varianceAtSend, now - at, arrival, serviceMs)
    rec[r + MEAN] = carried.mean
    rec[r + VARIANCE] = carried.variance
    rec[r + AT] = now
    this.touch(slot, true)
  }

  /** The believed backlog of `peerId` at `now`; the prior (with `ageMs` = Infinity) when nothing is known. */
  belief (peerId: string, now: number): Belief {
    const slot = this.records.slotOf(peerId)
    if (slot === NONE) return { mean: this.priorBacklog, variance: this.priorVariance, ageMs: Infinity }
    const rec = this.records.rec
    const r = slot * FIELDS
    const ageMs = Math.max(0, now - rec[r + AT])
    const serviceMs = rec[r + SERVICE]
    if (Number.isNaN(serviceMs)) {
      const w = Math.exp(-ageMs / this.priorRelaxMs)
      return {
        mean: this.priorBacklog + (rec[r + MEAN] - this.priorBacklog) * w,
        variance: this.priorVariance + (rec[r + VARIANCE] - this.priorVariance) * w,
        ageMs
      }
    }
    carryInto(carried, rec[r + MEAN], rec[r + VARIANCE], ageMs, rec[r + ARRIVAL], serviceMs)
    return { mean: carried.mean, variance: carried.variance, ageMs }
  }

  /** Mean service time of one request at `peerId`, ms, from its beacons or (without any) the fastest answer seen. */
  serviceMs (peerId: string): number | undefined {
    const slot = this.records.slotOf(peerId)
    if (slot === NONE) return undefined
    const t = this.records.rec[slot * FIELDS + SERVICE]
    return Number.isNaN(t) ? undefined : t
  }

  /** Arrival rate the last beacon of `peerId` carried, per second. */
  arrivalPerSec (peerId: string): number | undefined {
    const slot = this.records.find(peerId)
    return slot === NONE ? undefined : this.records.rec[slot * FIELDS + ARRIVAL]
  }

  /** Drops everything known of `peerId` (it left the network). */
  forget (peerId: string): void {
    const slot = this.records.find(peerId)
    if (slot === NONE) return
    this.uncount(slot)
    this.release(slot)
  }

  /**
   * The expected number of other nodes placing a delegated query in one
   * decision window of `windowMs`, from the arrival rates of peers whose
   * beacons are fresh. See {@link expectedRivals}.
   */
  estimateRivals (now: number, windowMs: number, delegatedShare = 1): number {
    if (now < this.horizon) this.rebuildFresh(now)
    this.horizon = now
    // Beacons that have gone stale since the last call leave the sum.
    const expiry = this.expiry
    while (expiry.size > 0 && !(now - expiry.topAt() <= this.beaconExpiryMs)) {
      const slot = expiry.topSlot()
      const stamp = expiry.topStamp()
      expiry.pop()
      if (this.records.rec[slot * FIELDS + STAMP] === stamp) this.uncount(slot)
    }
    return this.freshRateSum * Math.max(0, windowMs) / 1000 * Math.min(1, Math.max(0, delegatedShare))
  }

  /** {@link estimateRivals} by a loop over every peer: the reference the incremental sum is checked against. */
  estimateRivalsByScan (now: number, windowMs: number, delegatedShare = 1): number {
    const rates: number[] = []
    const records = this.records
    const rec = records.rec
    for (let slot = records.oldest; slot !== NONE; slot = records.next(slot)) {
      const beaconAt = rec[slot * FIELDS + BEACON_AT]
      if (!Number.isNaN(beaconAt) && now - beaconAt <= this.beaconExpiryMs) rates.push(rec[slot * FIELDS + ARRIVAL])
    }
    return expectedRivals(rates, windowMs, delegatedShare)
  }

  /** A slot for a new peer (not yet in the recency order), counted by nothing. */
  private allocate (peerId: string): number {
    const slot = this.records.allocate(peerId)
    const r = slot * FIELDS
    const rec = this.records.rec
    rec[r + COUNTED] = 0
    rec[r + STAMP] = 0
    return slot
  }

  /** A record that knows nothing of its peer's queue yet. */
  private blank (slot: number): void {
    const r = slot * FIELDS
    const rec = this.records.rec
    rec[r + SERVICE] = NaN
    rec[r + SERVICE_FROM_BEACON] = 0
    rec[r + ARRIVAL] = 0
    rec[r + BEACON_AT] = NaN
    rec[r + BEACON_SENT_AT] = NaN
  }

  /** Frees `slot`, with its peer's beacon. */
  private release (slot: number): void {
    this.records.release(slot)
    if (this.beacons !== undefined) this.beacons[slot] = undefined
  }

  /** Adds `slot` to the fresh sum when its beacon is fresh as of the latest `now` asked and its rate counts. */
  private count (slot: number): void {
    const r = slot * FIELDS
    const rec = this.records.rec
    rec[r + COUNTED] = 0
    const stamp = ++this.nextStamp
    rec[r + STAMP] = stamp
    const rate = rec[r + ARRIVAL]
    const beaconAt = rec[r + BEACON_AT]
    if (Number.isNaN(beaconAt) || !(Number.isFinite(rate) && rate > 0)) return
    if (!(this.horizon - beaconAt <= this.beaconExpiryMs)) return
    rec[r + COUNTED] = rate
    this.freshRateSum += rate
    this.freshCount++
    this.expiry.push(beaconAt, slot, stamp)
    // Superseded entries wait in the heap until they expire; a node that updates often and asks rarely compacts it.
    if (this.expiry.size > 4 * this.records.size + 1024) this.compactExpiry()
  }

  /** Keeps only the current entry of each counted record. */
  private compactExpiry (): void {
    this.expiry.clear()
    const records = this.records
    const rec = records.rec
    for (let slot = records.oldest; slot !== NONE; slot = records.next(slot)) {
      const r = slot * FIELDS
      if (rec[r + COUNTED] > 0 && !Number.isNaN(rec[r + BEACON_AT])) this.expiry.push(rec[r + BEACON_AT], slot, rec[r + STAMP])
    }
  }

  /** Takes `slot` out of the fresh sum (no-op when it is not counted). */
  private uncount (slot: number): void {
    const r = slot * FIELDS
    const rec = this.records.rec
    const c = rec[r + COUNTED]
    if (c === 0) return
    rec[r + COUNTED] = 0
    this.freshCount--
    // Exactly zero when nothing is counted; otherwise the running sum, re-added exactly now and then so rounding cannot drift.
    if (this.freshCount === 0) this.freshRateSum = 0
    else this.freshRateSum -= c
  }

  /** Recomputes the fresh sum and the heap from every peer, as of `now` (a clock that went back). */
  private rebuildFresh (now: number): void {
    this.horizon = now
    this.expiry.clear()
    this.freshRateSum = 0
    this.freshCount = 0
    const records = this.records
    for (let slot = records.oldest; slot !== NONE; slot = records.next(slot)) this.count(slot)
  }

  /** Re-adds the counted rates in one pass, so that the running sum carries no accumulated rounding. */
  private exactSum (): void {
    let sum = 0
    const records = this.records
    const rec = records.rec
    for (let slot = records.oldest; slot !== NONE; slot = records.next(slot)) sum += rec[slot * FIELDS + COUNTED]
    this.freshRateSum = sum
    this.updatesSinceExactSum = 0
  }

  /** Moves `slot` to the newest end of the recency order (re-counting it), then evicts the least recently updated over the cap. */
  private touch (slot: number, linked: boolean): void {
    if (linked) this.uncount(slot)
    const records = this.records
    records.touch(slot, linked)
    this.count(slot)
    while (records.size > this.maxPeers) {
      const oldest = records.oldest
      if (oldest === NONE) break
      this.uncount(oldest)
      this.release(oldest)
    }
    if (++this.updatesSinceExactSum >= 4 * this.maxPeers) this.exactSum()
  }
}
