import { describe, expect, it } from 'vitest'
import { BeliefsInputError, LoadBeliefs } from '../../src/core/beliefs.js'
import { seededRng } from '../../src/core/rng.js'
import type { LoadBeacon } from '../../src/core/types.js'

function beacon (peerId: string, over: Partial<LoadBeacon> = {}): LoadBeacon {
  return { peerId, backlog: 4, serviceMs: 1000, arrivalPerSec: 0.5, sentAt: 0, ...over }
}

/** A beacon whose every number depends on the peer's index, so that two records mixed up would show. */
function beaconOf (i: number): LoadBeacon {
  return beacon(`p${i}`, { backlog: i % 7, serviceMs: 500 + 13 * i, arrivalPerSec: 0.1 + i / 1000, sentAt: 10 * i })
}

describe('LoadBeliefs records', () => {
  it('keeps each of hundreds of peers apart as its storage grows', () => {
    const many = new LoadBeliefs()
    const peers = 300
    for (let i = 0; i < peers; i++) many.onBeacon(beaconOf(i), 10 * i + 5)
    for (let i = 0; i < peers; i++) {
      const alone = new LoadBeliefs()
      alone.onBeacon(beaconOf(i), 10 * i + 5)
      expect(many.belief(`p${i}`, 5000)).toEqual(alone.belief(`p${i}`, 5000))
      expect(many.serviceMs(`p${i}`)).toBe(500 + 13 * i)
      expect(many.arrivalPerSec(`p${i}`)).toBe(0.1 + i / 1000)
    }
    expect(many.size).toBe(peers)
  })

  it('gives the service time of a peer learned right after it was asked about as unknown', () => {
    const beliefs = new LoadBeliefs({ priorBacklog: 2, priorVariance: 9 })
    expect(beliefs.belief('late', 100)).toEqual({ mean: 2, variance: 9, ageMs: Infinity })
    expect(beliefs.serviceMs('late')).toBeUndefined()
    beliefs.onBeacon(beacon('late', { serviceMs: 750, backlog: 3, sentAt: 100 }), 100)
    expect(beliefs.serviceMs('late')).toBe(750)
    expect(beliefs.belief('late', 100).mean).toBe(3)
  })

  it('answers with the prior for a peer forgotten or evicted right after it was asked about', () => {
    const beliefs = new LoadBeliefs({ maxPeers: 2, priorBacklog: 2, priorVariance: 9 })
    beliefs.onBeacon(beacon('a', { serviceMs: 700 }), 0)
    expect(beliefs.serviceMs('a')).toBe(700)
    beliefs.forget('a')
    expect(beliefs.serviceMs('a')).toBeUndefined()
    expect(beliefs.belief('a', 10).ageMs).toBe(Infinity)

    beliefs.onBeacon(beacon('b', { serviceMs: 800 }), 0)
    expect(beliefs.belief('b', 10).ageMs).toBe(10)
    expect(beliefs.serviceMs('b')).toBe(800)
    beliefs.onBeacon(beacon('c', { serviceMs: 900 }), 1)
    beliefs.onBeacon(beacon('d', { serviceMs: 1000 }), 2)
    // b was the least recently updated: evicted, and its slot now holds another peer.
    expect(beliefs.serviceMs('b')).toBeUndefined()
    expect(beliefs.belief('b', 10)).toEqual({ mean: 2, variance: 9, ageMs: Infinity })
    expect(beliefs.serviceMs('d')).toBe(1000)
  })

  it('reads a refusal and a response of a peer it only now hears of into a new record', () => {
    const beliefs = new LoadBeliefs()
    for (let i = 0; i < 40; i++) beliefs.onBeacon(beaconOf(i), 10 * i + 5)
    beliefs.onRefusal('refuser', 6, 1000)
    beliefs.onResponse('responder', { latencyMs: 900, rttMs: 100 }, 1000)
    expect(beliefs.belief('refuser', 1000)).toEqual({ mean: 6, variance: 0.25, ageMs: 0 })
    expect(beliefs.serviceMs('refuser')).toBeUndefined()
    expect(beliefs.serviceMs('responder')).toBe(800)
    for (let i = 0; i < 40; i++) expect(beliefs.serviceMs(`p${i}`)).toBe(500 + 13 * i)
  })

  it('finds the same records through a peer index as through its map, across evictions, departures and growth', () => {
    const rng = seededRng(21)
    const byMap = new LoadBeliefs({ maxPeers: 48, beaconExpiryMs: 5000 })
    const byIndex = new LoadBeliefs({ maxPeers: 48, beaconExpiryMs: 5000, peerIndex: id => Number(id.slice(1)) })
    let now = 0
    let evictions = 0
    for (let step = 0; step < 6000; step++) {
      now += rng() * 300
      // Peer numbers far apart and close together: probe runs collide and wrap around the table.
      const peer = `p${rng() < 0.5 ? Math.floor(rng() * 300) : 1_000_000 + 64 * Math.floor(rng() * 40)}`
      const r = rng()
      const sizeBefore = byMap.size
      for (const beliefs of [byMap, byIndex]) {
        if (r < 0.6) beliefs.onNewBeacon({ peerId: peer, backlog: (step % 5), serviceMs: 900 + (step % 7) * 100, arrivalPerSec: (step % 3) * 0.2, sentAt: now - 50 }, now)
        else if (r < 0.72) beliefs.onRefusal(peer, step % 6, now)
        else if (r < 0.86) beliefs.onResponse(peer, { latencyMs: 700 + (step % 11) * 300, rttMs: 40 }, now)
        else beliefs.forget(peer)
      }
      if (r < 0.86 && byMap.size === sizeBefore && byMap.size === 48) evictions++
      const asked = `p${Math.floor(rng() * 300)}`
      expect(byIndex.size).toBe(byMap.size)
      expect(byIndex.belief(asked, now)).toEqual(byMap.belief(asked, now))
      expect(byIndex.serviceMs(asked)).toBe(byMap.serviceMs(asked))
      expect(byIndex.belief(peer, now)).toEqual(byMap.belief(peer, now))
      expect(byIndex.arrivalPerSec(peer)).toBe(byMap.arrivalPerSec(peer))
      expect(byIndex.estimateRivals(now, 2000)).toBe(byMap.estimateRivals(now, 2000))
    }
    // The check means something only if the cap was reached and peers were evicted over it.
    expect(evictions).toBeGreaterThan(100)
  })

  it('rejects a peer its index gives no valid number for, with a countable reason', () => {
    const beliefs = new LoadBeliefs({ peerIndex: id => (id === 'known' ? 3 : -1) })
    beliefs.onBeacon(beacon('known'), 0)
    expect(beliefs.size).toBe(1)
    let caught: unknown
    try {
      beliefs.onBeacon(beacon('stranger'), 0)
    } catch (err) {
      caught = err
    }
    expect(caught).toBeInstanceOf(BeliefsInputError)
    expect((caught as BeliefsInputError).reason).toBe('peer-index')
    expect(beliefs.size).toBe(1)
  })
})
