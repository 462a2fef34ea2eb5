/**
 * The simulated gossip of load beacons (ARCHITECTURE.md §9): what each agent
 * last beaconed, and what a listener hears of it after the gossip delay.
 *
 * Per agent, one record of BEACON_STRIDE numbers (two cache lines, where six
 * arrays read at random were a dozen misses per beacon): the last two beacons
 * it sent (the newest may still be in flight on gossip) at NEWEST and
 * PREVIOUS, each its sent time (NaN: none), backlog, service time, the meter
 * state its arrival rate is read from, and that rate once somebody heard it
 * (NaN: not read yet); and the sender's side a beacon reads, at NOW_*: its
 * backlog, measured service time and arrival meter state (mirrors of its
 * device and meter, kept up to date by the serving side).
 */
import type { LoadBeacon } from '../core/types.js'
import { rateFrom } from './rate-meter.js'

/** A beacon record's fields. */
const B_SENT_AT = 0
const B_BACKLOG = 1
const B_SERVICE = 2
const B_METER_COUNT = 3
const B_METER_AT = 4
const B_RATE = 5
const BEACON_FIELDS = 6
/** An agent's record: its newest and previous beacons, and the mirrors of its current state a beacon reads. */
const NEWEST = 0
const NOW_BACKLOG = 6
const NOW_SERVICE = 7
const PREVIOUS = 8
const NOW_METER_COUNT = 14
const NOW_METER_AT = 15
const BEACON_STRIDE = 16

export class BeaconBoard {
  private readonly beacons: Float64Array
  /** The beacon handed to a listener: filled per delivery, read at once and never kept (LoadBeliefs copies its numbers). */
  private readonly heard: LoadBeacon = { peerId: '', backlog: 0, serviceMs: 0, arrivalPerSec: 0, sentAt: 0 }

  /**
   * @param agentIds - the agents' ids, by index
   * @param serviceMs - each agent's measured service time at the start
   */
  constructor (private readonly agentIds: readonly string[], serviceMs: (i: number) => number, private readonly gossipDelayMs: number, private readonly rateMeterTauMs: number) {
    const n = agentIds.length
    this.beacons = new Float64Array(BEACON_STRIDE * n)
    for (let i = 0; i < n; i++) {
      const b = BEACON_STRIDE * i
      for (const r of [b + NEWEST, b + PREVIOUS]) {
        this.beacons[r + B_SENT_AT] = NaN
        this.beacons[r + B_RATE] = NaN
      }
      this.beacons[b + NOW_SERVICE] = serviceMs(i)
    }
  }

  /** The newest beacon of agent `j` that gossip has delivered by `now`, if any. */
  delivered (j: number, now: number): LoadBeacon | undefined {
    const beacons = this.beacons
    const gossip = this.gossipDelayMs
    const b = BEACON_STRIDE * j
    if (beacons[b + NEWEST + B_SENT_AT] + gossip <= now) return this.record(j, b + NEWEST)
    if (beacons[b + PREVIOUS + B_SENT_AT] + gossip <= now) return this.record(j, b + PREVIOUS)
    return undefined
  }

  /** Agent `i` (online) beacons at `now`: the newest record becomes the previous one; the new beacon is the newest. */
  send (i: number, now: number): void {
    const beacons = this.beacons
    const b = BEACON_STRIDE * i
    const k = b + NEWEST
    const prev = b + PREVIOUS
    for (let f = 0; f < BEACON_FIELDS; f++) beacons[prev + f] = beacons[k + f]
    beacons[k + B_SENT_AT] = now
    beacons[k + B_BACKLOG] = beacons[b + NOW_BACKLOG]
    beacons[k + B_SERVICE] = beacons[b + NOW_SERVICE]
    // The rate is read from the meter's state only if somebody hears the beacon.
    beacons[k + B_METER_COUNT] = beacons[b + NOW_METER_COUNT]
    beacons[k + B_METER_AT] = beacons[b + NOW_METER_AT]
    beacons[k + B_RATE] = NaN
  }

  /** Agent `i` left: none of its beacons is delivered any more. */
  silence (i: number): void {
    this.beacons[BEACON_STRIDE * i + NEWEST + B_SENT_AT] = NaN
    this.beacons[BEACON_STRIDE * i + PREVIOUS + B_SENT_AT] = NaN
  }

  /** Mirrors agent `i`'s backlog. */
  setBacklog (i: number, backlog: number): void {
    this.beacons[BEACON_STRIDE * i + NOW_BACKLOG] = backlog
  }

  /** Mirrors agent `i`'s measured service time. */
  setServiceMs (i: number, serviceMs: number): void {
    this.beacons[BEACON_STRIDE * i + NOW_SERVICE] = serviceMs
  }

  /** Mirrors the state of agent `i`'s arrival meter. */
  setMeter (i: number, decayedCount: number, updatedAt: number): void {
    this.beacons[BEACON_STRIDE * i + NOW_METER_COUNT] = decayedCount
    this.beacons[BEACON_STRIDE * i + NOW_METER_AT] = updatedAt
  }

  /** Beacon record `k` of agent `j`, with its arrival rate as the meter read when it was sent. */
  private record (j: number, k: number): LoadBeacon {
    const beacons = this.beacons
    if (Number.isNaN(beacons[k + B_RATE])) beacons[k + B_RATE] = rateFrom(beacons[k + B_METER_COUNT], beacons[k + B_METER_AT], beacons[k + B_SENT_AT], this.rateMeterTauMs)
    const heard = this.heard
    heard.peerId = this.agentIds[j]
    heard.backlog = beacons[k + B_BACKLOG]
    heard.serviceMs = beacons[k + B_SERVICE]
    heard.arrivalPerSec = beacons[k + B_RATE]
    heard.sentAt = beacons[k + B_SENT_AT]
    return heard
  }
}
