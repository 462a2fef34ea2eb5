/**
 * Beliefs about the backlog of remote peers (DESIGN §5).
 *
 * Load is never observed in time: a beacon says what the backlog was when it
 * was sent. A belief carries that value forward as a queue would evolve — the
 * mean relaxes toward the stationary M/M/1 backlog (or grows at arrival minus
 * service when the peer is overloaded) and the variance grows with age — and
 * is corrected by what this node sees itself: fast "busy" refusals (an exact
 * reading) and response times (a noisy reading of the backlog at send time).
 *
 * Pure: every method takes the caller's clock; memory is bounded by `maxPeers`.
 */
import type { Belief, LoadBeacon } from './types.js'

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
}

/** One peer's anchor: a backlog estimate at a time, plus what the peer's queue dynamics are believed to be. */
interface PeerState {
  mean: number
  variance: number
  /** Local clock of the estimate, ms. */
  at: number
  serviceMs: number | undefined
  /** Whether `serviceMs` came from a beacon (else: the fastest answer seen, a bound). */
  serviceFromBeacon: boolean
  arrivalPerSec: number
  /** Local clock of the last beacon, ms (undefined: none yet). */
  beaconAt: number | undefined
  /** Sender's clock of the newest beacon applied (NaN: none), so that a beacon heard twice is applied once. */
  beaconSentAt: number
  /** The arrival rate this state adds to the running sum of fresh rates (0: not counted). */
  counted: number
  /** Which entry of the expiry heap is this state's current one. */
  stamp: number
}

/** A counted state's place in the expiry heap: when its beacon was received. Stale once the state's stamp moved on. */
interface ExpiryEntry {
  beaconAt: number
  state: PeerState
  stamp: number
}

/** What a response from a peer revealed: the time from send to answer, and the network part of it. */
export interface ResponseTiming {
  latencyMs: number
  rttMs: number
}

/**
 * The expected number of other nodes placing a delegated query in one decision
 * window, from the arrival rates their beacons carry: Σ rate × window × share.
 *
 * @param arrivalRatesPerSec - per other node, queries per second
 * @param windowMs - the decision window: how long others' choices stay invisible (e.g. the beacon period)
 * @param delegatedShare - the fraction of those queries that are delegated rather than kept local (default 1, the worst case)
 */
export function expectedRivals (arrivalRatesPerSec: readonly number[], windowMs: number, delegatedShare = 1): number {
  let sum = 0
  for (const rate of arrivalRatesPerSec) {
    if (Number.isFinite(rate) && rate > 0) sum += rate
  }
  return sum * Math.max(0, windowMs) / 1000 * Math.min(1, Math.max(0, delegatedShare))
}

/**
 * Carries a backlog estimate `(mean0, variance0)` forward by `dtMs` for a queue
 * with the given arrival rate and mean service time (one server).
 *
 * Stable queue (ρ < 0.98): the mean relaxes toward the stationary M/M/1
 * backlog ρ/(1−ρ) — draining at the fluid slope μ−λ at first, filling in two
 * phases (the server gets busy at rate λ+μ, the rest at the M/M/1 relaxation
 * time 1/(μ(1−√ρ)²)); the variance grows from the random-walk rate λ + μ·P(busy)
 * and saturates at the stationary variance ρ/(1−ρ)². Against a simulated
 * M/M/1 queue (ρ 0.3–0.9, 1–10 s ahead) this has a lower squared error than
 * the stale value, and its variance matches that error within ~10%
 * (test/core/beliefs.test.ts). Overloaded queue: a random walk drifting at
 * λ−μ with variance growing at λ+μ.
 */
export function carryForward (mean0: number, variance0: number, dtMs: number, arrivalPerSec: number, serviceMs: number): { mean: number, variance: number } {
  const dt = Math.max(0, dtMs)
  if (dt === 0 || !(serviceMs > 0)) return { mean: mean0, variance: variance0 }
  const lambda = Math.max(0, arrivalPerSec) / 1000 // per ms
  const mu = 1 / serviceMs
  const rho = lambda / mu
  if (rho < 0.98) {
    const meanInf = rho / (1 - rho)
    const varInf = rho / ((1 - rho) * (1 - rho))
    const tauSlowest = 1 / (mu * (1 - Math.sqrt(rho)) ** 2)
    const busy = Math.min(1, Math.max(0, mean0))
    let mean: number
    if (mean0 >= meanInf) {
      // Draining: starts at the fluid slope μ−λ, never slower than the slowest mode.
      const tau = Math.min(tauSlowest, (mean0 - meanInf) / (mu - lambda))
      mean = meanInf + (mean0 - meanInf) * (tau > 0 ? Math.exp(-dt / tau) : 0)
    } else {
      // Filling: the server gets busy fast (rate λ+μ, up to ρ), the rest relaxes slowly.
      const fastGap = Math.max(0, Math.min(meanInf - mean0, rho - busy))
      const slowGap = meanInf - mean0 - fastGap
      mean = meanInf - fastGap * Math.exp(-dt * (lambda + mu)) - slowGap * Math.exp(-dt / tauSlowest)
    }
    const growth = lambda + mu * busy
    const fresh = varInf > 0 ? varInf * (1 - Math.exp(-growth * dt / varInf)) : 0
    const variance = variance0 * Math.exp(-2 * dt / tauSlowest) + fresh
    return { mean, variance }
  }
  const mean = Math.max(0, mean0 + (lambda - mu) * dt)
  return { mean, variance: variance0 + (lambda + mu) * dt }
}

/**
 * What this node believes about the current backlog of each peer.
 *
 * Feed it beacons ({@link onBeacon}), refusals ({@link onRefusal}) and response
 * times ({@link onResponse}); ask {@link belief} at decision time.
 */
export class LoadBeliefs {
  private readonly peers = new Map<string, PeerState>()
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
   * beacon expires. `horizon` is the latest `now` asked; an earlier one rebuilds.
   */
  private freshRateSum = 0
  private freshCount = 0
  private readonly expiry: ExpiryEntry[] = []
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
  }

  /** Number of peers remembered. */
  get size (): number {
    return this.peers.size
  }

  /**
   * A beacon arrived. It replaces the estimate unless this node already knows
   * something newer (a beacon that overtook it, or its own observation).
   */
  onBeacon (beacon: LoadBeacon, receivedAt: number): void {
    // Frames are validated at the edge; a non-finite value here is a bug upstream, not information.
    if (!(Number.isFinite(beacon.backlog) && Number.isFinite(beacon.serviceMs) && Number.isFinite(beacon.sentAt) && Number.isFinite(receivedAt))) return
    const skew = receivedAt - beacon.sentAt
    const at = skew >= 0 && skew <= this.maxClockSkewMs ? beacon.sentAt : receivedAt
    const prev = this.peers.get(beacon.peerId)
    const serviceMs = beacon.serviceMs > 0 ? beacon.serviceMs : prev?.serviceMs
    const arrivalPerSec = Math.max(0, Number.isFinite(beacon.arrivalPerSec) ? beacon.arrivalPerSec : 0)
    if (prev !== undefined && prev.at > at) {
      // Older than what we hold: keep the estimate, but learn the rates.
      prev.serviceMs = serviceMs
      prev.serviceFromBeacon = prev.serviceFromBeacon || beacon.serviceMs > 0
      prev.arrivalPerSec = arrivalPerSec
      prev.beaconAt = Math.max(prev.beaconAt ?? -Infinity, receivedAt)
      if (!(prev.beaconSentAt >= beacon.sentAt)) prev.beaconSentAt = beacon.sentAt
      this.touch(beacon.peerId, prev)
      return
    }
    if (prev !== undefined) {
      // Updated in place: 10,000 simulated nodes replace thousands of these a second, and a new object each time is old-generation garbage.
      prev.mean = Math.max(0, beacon.backlog)
      prev.variance = 0
      prev.at = at
      prev.serviceMs = serviceMs
      prev.serviceFromBeacon = beacon.serviceMs > 0 || prev.serviceFromBeacon
      prev.arrivalPerSec = arrivalPerSec
      prev.beaconAt = receivedAt
      if (!(prev.beaconSentAt >= beacon.sentAt)) prev.beaconSentAt = beacon.sentAt
      this.touch(beacon.peerId, prev)
      return
    }
    this.touch(beacon.peerId, {
      mean: Math.max(0, beacon.backlog),
      variance: 0,
      at,
      serviceMs,
      serviceFromBeacon: beacon.serviceMs > 0,
      arrivalPerSec,
      beaconAt: receivedAt,
      beaconSentAt: beacon.sentAt,
      counted: 0,
      stamp: 0
    })
  }

  /** The peer refused a query as busy and reported its backlog: an exact, fresh reading. */
  onRefusal (peerId: string, reportedBacklog: number, now: number): void {
    const prev = this.peers.get(peerId)
    if (prev !== undefined) {
      prev.mean = Math.max(0, reportedBacklog)
      prev.variance = this.refusalVariance
      prev.at = now
      this.touch(peerId, prev)
      return
    }
    this.touch(peerId, {
      mean: Math.max(0, reportedBacklog),
      variance: this.refusalVariance,
      at: now,
      serviceMs: undefined,
      serviceFromBeacon: false,
      arrivalPerSec: 0,
      beaconAt: undefined,
      beaconSentAt: NaN,
      counted: 0,
      stamp: 0
    })
  }

  /**
   * A peer answered. The time it spent beyond the round trip is the queue
   * ahead plus one service: it implies the backlog when the query was sent,
   * a noisy reading (a sum of k+1 service times has variance ≈ k+1 services²)
   * that is blended with the belief at that time (a Kalman step).
   */
  onResponse (peerId: string, timing: ResponseTiming, now: number): void {
    const prev = this.peers.get(peerId)
    const spentMs = Math.max(0, timing.latencyMs - timing.rttMs)
    if (prev === undefined || prev.serviceMs === undefined || !prev.serviceFromBeacon) {
      // No service time from a beacon: the fastest answer seen bounds it from
      // above, and a backlog read against a bound would be biased, so none is.
      const state = prev ?? { mean: this.priorBacklog, variance: this.priorVariance, at: now, serviceMs: undefined, serviceFromBeacon: false, arrivalPerSec: 0, beaconAt: undefined, beaconSentAt: NaN, counted: 0, stamp: 0 }
      state.serviceMs = spentMs > 0 ? Math.min(state.serviceMs ?? Infinity, spentMs) : state.serviceMs
      this.touch(peerId, state)
      return
    }
    const sentAt = now - timing.latencyMs
    // What the query saw is older than the estimate held (a later beacon or refusal): nothing to add.
    if (sentAt < prev.at) return
    const implied = Math.max(0, spentMs / prev.serviceMs - 1)
    const obsVariance = implied + 1
    const at = sentAt
    const before = carryForward(prev.mean, prev.variance, at - prev.at, prev.arrivalPerSec, prev.serviceMs)
    const gain = before.variance / (before.variance + obsVariance)
    const atSend = {
      mean: before.mean + gain * (implied - before.mean),
      variance: (1 - gain) * before.variance
    }
    // Served since it was sent: the backlog it saw has partly drained.
    const after = carryForward(atSend.mean, atSend.variance, now - at, prev.arrivalPerSec, prev.serviceMs)
    prev.mean = after.mean
    prev.variance = after.variance
    prev.at = now
    this.touch(peerId, prev)
  }

  /** The believed backlog of `peerId` at `now`; the prior (with `ageMs` = Infinity) when nothing is known. */
  belief (peerId: string, now: number): Belief {
    const state = this.peers.get(peerId)
    if (state === undefined) return { mean: this.priorBacklog, variance: this.priorVariance, ageMs: Infinity }
    const ageMs = Math.max(0, now - state.at)
    if (state.serviceMs === undefined) {
      const w = Math.exp(-ageMs / this.priorRelaxMs)
      return {
        mean: this.priorBacklog + (state.mean - this.priorBacklog) * w,
        variance: this.priorVariance + (state.variance - this.priorVariance) * w,
        ageMs
      }
    }
    const { mean, variance } = carryForward(state.mean, state.variance, ageMs, state.arrivalPerSec, state.serviceMs)
    return { mean, variance, ageMs }
  }

  /** Mean service time of one request at `peerId`, ms, from its beacons or (without any) the fastest answer seen. */
  serviceMs (peerId: string): number | undefined {
    return this.peers.get(peerId)?.serviceMs
  }

  /** Sender's clock of the newest beacon of `peerId` applied, ms; undefined when none is (the peer is unknown or was forgotten). */
  lastBeaconSentAt (peerId: string): number | undefined {
    const t = this.peers.get(peerId)?.beaconSentAt
    return t === undefined || Number.isNaN(t) ? undefined : t
  }

  /** Arrival rate the last beacon of `peerId` carried, per second. */
  arrivalPerSec (peerId: string): number | undefined {
    return this.peers.get(peerId)?.arrivalPerSec
  }

  /** Drops everything known of `peerId` (it left the network). */
  forget (peerId: string): void {
    const state = this.peers.get(peerId)
    if (state !== undefined) this.uncount(state)
    this.peers.delete(peerId)
  }

  /**
   * The expected number of other nodes placing a delegated query in one
   * decision window of `windowMs`, from the arrival rates of peers whose
   * beacons are fresh. See {@link expectedRivals}.
   */
  estimateRivals (now: number, windowMs: number, delegatedShare = 1): number {
    if (now < this.horizon) this.rebuildFresh(now)
    this.horizon = now
    const heap = this.expiry
    // Beacons that have gone stale since the last call leave the sum.
    while (heap.length > 0 && !(now - heap[0].beaconAt <= this.beaconExpiryMs)) {
      const entry = popExpiry(heap)
      if (entry.state.stamp === entry.stamp) this.uncount(entry.state)
    }
    return this.freshRateSum * Math.max(0, windowMs) / 1000 * Math.min(1, Math.max(0, delegatedShare))
  }

  /** {@link estimateRivals} by a loop over every peer: the reference the incremental sum is checked against. */
  estimateRivalsByScan (now: number, windowMs: number, delegatedShare = 1): number {
    const rates: number[] = []
    for (const state of this.peers.values()) {
      if (state.beaconAt !== undefined && now - state.beaconAt <= this.beaconExpiryMs) rates.push(state.arrivalPerSec)
    }
    return expectedRivals(rates, windowMs, delegatedShare)
  }

  /** Adds `state` to the fresh sum when its beacon is fresh as of the latest `now` asked and its rate counts. */
  private count (state: PeerState): void {
    state.counted = 0
    state.stamp = ++this.nextStamp
    const rate = state.arrivalPerSec
    if (state.beaconAt === undefined || !(Number.isFinite(rate) && rate > 0)) return
    if (!(this.horizon - state.beaconAt <= this.beaconExpiryMs)) return
    state.counted = rate
    this.freshRateSum += rate
    this.freshCount++
    pushExpiry(this.expiry, { beaconAt: state.beaconAt, state, stamp: state.stamp })
    // Superseded entries wait in the heap until they expire; a node that updates often and asks rarely compacts it.
    if (this.expiry.length > 4 * this.peers.size + 1024) this.compactExpiry()
  }

  /** Keeps only the current entry of each counted state. */
  private compactExpiry (): void {
    this.expiry.length = 0
    for (const state of this.peers.values()) {
      if (state.counted > 0 && state.beaconAt !== undefined) pushExpiry(this.expiry, { beaconAt: state.beaconAt, state, stamp: state.stamp })
    }
  }

  /** Takes `state` out of the fresh sum (no-op when it is not counted). */
  private uncount (state: PeerState): void {
    const c = state.counted
    if (c === 0) return
    state.counted = 0
    this.freshCount--
    // Exactly zero when nothing is counted; otherwise the running sum, re-added exactly now and then so rounding cannot drift.
    if (this.freshCount === 0) this.freshRateSum = 0
    else this.freshRateSum -= c
  }

  /** Recomputes the fresh sum and the heap from every peer, as of `now` (a clock that went back). */
  private rebuildFresh (now: number): void {
    this.horizon = now
    this.expiry.length = 0
    this.freshRateSum = 0
    this.freshCount = 0
    for (const state of this.peers.values()) this.count(state)
  }

  /** Re-adds the counted rates in one pass, so that the running sum carries no accumulated rounding. */
  private exactSum (): void {
    let sum = 0
    for (const state of this.peers.values()) sum += state.counted
    this.freshRateSum = sum
    this.updatesSinceExactSum = 0
  }

  /** Re-inserts so that Map order is least recently updated first, then evicts over the cap. */
  private touch (peerId: string, state: PeerState): void {
    const prev = this.peers.get(peerId)
    if (prev !== undefined) {
      this.uncount(prev)
      this.peers.delete(peerId)
    }
    this.peers.set(peerId, state)
    this.count(state)
    while (this.peers.size > this.maxPeers) {
      const oldest = this.peers.keys().next()
      if (oldest.done === true) break
      this.uncount(this.peers.get(oldest.value) as PeerState)
      this.peers.delete(oldest.value)
    }
    if (++this.updatesSinceExactSum >= 4 * this.maxPeers) this.exactSum()
  }
}

function beforeExpiry (a: ExpiryEntry, b: ExpiryEntry): boolean {
  return a.beaconAt < b.beaconAt
}

/** Binary min-heap push, by `beaconAt`. */
function pushExpiry (heap: ExpiryEntry[], entry: ExpiryEntry): void {
  let i = heap.length
  heap.push(entry)
  while (i > 0) {
    const parent = (i - 1) >> 1
    if (!beforeExpiry(entry, heap[parent])) break
    heap[i] = heap[parent]
    i = parent
  }
  heap[i] = entry
}

/** Binary min-heap pop (the heap is not empty). */
function popExpiry (heap: ExpiryEntry[]): ExpiryEntry {
  const top = heap[0]
  const last = heap.pop() as ExpiryEntry
  const n = heap.length
  if (n > 0) {
    let i = 0
    while (true) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      const c = r < n && beforeExpiry(heap[r], heap[l]) ? r : l
      if (!beforeExpiry(heap[c], last)) break
      heap[i] = heap[c]
      i = c
    }
    heap[i] = last
  }
  return top
}
