import { describe, expect, it } from 'vitest'
import { carryForward, expectedRivals, LoadBeliefs } from '../../src/core/beliefs.js'
import { exponential, seededRng } from '../../src/core/rng.js'
import type { LoadBeacon } from '../../src/core/types.js'

function beacon (peerId: string, over: Partial<LoadBeacon> = {}): LoadBeacon {
  return { peerId, backlog: 4, serviceMs: 1000, arrivalPerSec: 0.5, sentAt: 0, ...over }
}

describe('LoadBeliefs', () => {
  it('returns the prior for a peer nothing is known of', () => {
    const beliefs = new LoadBeliefs({ priorBacklog: 2, priorVariance: 9 })
    expect(beliefs.belief('nobody', 1000)).toEqual({ mean: 2, variance: 9, ageMs: Infinity })
    expect(beliefs.serviceMs('nobody')).toBeUndefined()
  })

  it('grows the variance of a belief as its beacon gets stale', () => {
    const beliefs = new LoadBeliefs()
    beliefs.onBeacon(beacon('p'), 50)
    const ages = [0, 500, 2000, 8000, 30_000]
    const beliefsAtAges = ages.map(t => beliefs.belief('p', t))
    expect(beliefsAtAges[0].variance).toBe(0)
    for (let i = 1; i < ages.length; i++) {
      expect(beliefsAtAges[i].variance).toBeGreaterThan(beliefsAtAges[i - 1].variance)
      expect(beliefsAtAges[i].ageMs).toBe(ages[i])
    }
  })

  it('drifts a stable peer toward its stationary backlog as time passes', () => {
    const beliefs = new LoadBeliefs()
    // ρ = 0.5/s × 1 s = 0.5: stationary M/M/1 backlog ρ/(1−ρ) = 1.
    beliefs.onBeacon(beacon('p', { backlog: 10 }), 0)
    const early = beliefs.belief('p', 2000).mean
    const late = beliefs.belief('p', 120_000).mean
    expect(early).toBeLessThan(10)
    expect(early).toBeGreaterThan(late)
    expect(late).toBeCloseTo(1, 1)
  })

  it('drifts an overloaded peer upward at arrival minus service', () => {
    const beliefs = new LoadBeliefs()
    beliefs.onBeacon(beacon('p', { backlog: 3, arrivalPerSec: 2 }), 0)
    // 2 arrivals/s against 1 service/s: one more request per second.
    expect(beliefs.belief('p', 5000).mean).toBeCloseTo(8, 6)
  })

  it('raises the belief when the peer refuses with a larger backlog', () => {
    const beliefs = new LoadBeliefs()
    beliefs.onBeacon(beacon('p', { backlog: 0, arrivalPerSec: 0.2 }), 0)
    const before = beliefs.belief('p', 2000)
    beliefs.onRefusal('p', 7, 2000)
    const after = beliefs.belief('p', 2000)
    expect(after.mean).toBe(7)
    expect(after.mean).toBeGreaterThan(before.mean)
    expect(after.ageMs).toBe(0)
  })

  it('blends in the backlog a slow response implies', () => {
    const beliefs = new LoadBeliefs()
    // A busy peer (ρ = 0.9) relaxes slowly, so what the response saw still matters now.
    beliefs.onBeacon(beacon('p', { backlog: 0, arrivalPerSec: 0.9 }), 0)
    const before = beliefs.belief('p', 10_000).mean
    // Sent at 4 000, answered at 10 000 after 100 ms of network: 5 services ahead of it plus its own.
    beliefs.onResponse('p', { latencyMs: 6100, rttMs: 100 }, 10_000)
    const after = beliefs.belief('p', 10_000).mean
    expect(after).toBeGreaterThan(before + 0.5)
  })

  it('adds nothing from a response that was sent before the last beacon', () => {
    const beliefs = new LoadBeliefs()
    beliefs.onBeacon(beacon('p', { backlog: 2, arrivalPerSec: 0.9, sentAt: 5000 }), 5000)
    const before = beliefs.belief('p', 10_000)
    // Sent at 3 900, before the beacon of 5 000 that already counts what it saw.
    beliefs.onResponse('p', { latencyMs: 6100, rttMs: 100 }, 10_000)
    expect(beliefs.belief('p', 10_000)).toEqual(before)
  })

  it('ignores a beacon with non-finite values', () => {
    const beliefs = new LoadBeliefs()
    beliefs.onBeacon(beacon('p', { backlog: Number.NaN }), 0)
    expect(beliefs.belief('p', 0).ageMs).toBe(Infinity)
  })

  it('keeps a newer estimate when an older beacon arrives late', () => {
    const beliefs = new LoadBeliefs()
    beliefs.onBeacon(beacon('p', { backlog: 6, sentAt: 5000 }), 5010)
    beliefs.onBeacon(beacon('p', { backlog: 0, sentAt: 1000 }), 5020)
    expect(beliefs.belief('p', 5000).mean).toBe(6)
  })

  it('learns a service time from the fastest answer when no beacon gave one', () => {
    const beliefs = new LoadBeliefs()
    beliefs.onResponse('p', { latencyMs: 2600, rttMs: 100 }, 1000)
    beliefs.onResponse('p', { latencyMs: 1600, rttMs: 100 }, 5000)
    expect(beliefs.serviceMs('p')).toBe(1500)
  })

  it('forgets peers beyond its memory bound, least recently updated first', () => {
    const beliefs = new LoadBeliefs({ maxPeers: 3 })
    for (let i = 0; i < 5; i++) beliefs.onBeacon(beacon(`p${i}`, { sentAt: i }), i)
    expect(beliefs.size).toBe(3)
    expect(beliefs.belief('p0', 10).ageMs).toBe(Infinity)
    expect(beliefs.belief('p4', 10).ageMs).toBe(6)
    beliefs.forget('p4')
    expect(beliefs.size).toBe(2)
  })

  it('keeps the last beacon heard of each peer only when asked to, and forgets it with the peer', () => {
    const plain = new LoadBeliefs()
    plain.onNewBeacon(beacon('a'), 0)
    expect(plain.lastBeacon('a')).toBeUndefined()

    const beliefs = new LoadBeliefs({ maxPeers: 2, keepBeacons: true })
    const first = beacon('a', { backlog: 1, sentAt: 100 })
    expect(beliefs.onNewBeacon(first, 100)).toBe(true)
    expect(beliefs.lastBeacon('a')).toBe(first)
    // A late, older beacon is not applied, but it is the last one heard.
    const late = beacon('a', { backlog: 7, sentAt: 50 })
    expect(beliefs.onNewBeacon(late, 150)).toBe(false)
    expect(beliefs.lastBeacon('a')).toBe(late)
    expect(beliefs.belief('a', 100).mean).toBe(1)
    // A peer known from a refusal only has no beacon.
    beliefs.onRefusal('b', 3, 200)
    expect(beliefs.lastBeacon('b')).toBeUndefined()
    beliefs.onBeacon(beacon('b', { sentAt: 300 }), 300)
    expect(beliefs.lastBeacon('b')?.sentAt).toBe(300)
    // Past the bound the least recently updated peer goes, with its beacon; a forgotten one too.
    beliefs.onNewBeacon(beacon('c', { sentAt: 400 }), 400)
    expect(beliefs.lastBeacon('a')).toBeUndefined()
    beliefs.forget('b')
    expect(beliefs.lastBeacon('b')).toBeUndefined()
    expect(beliefs.lastBeacon('c')?.sentAt).toBe(400)
  })

  it('expects rivals from the arrival rates of fresh beacons only', () => {
    const beliefs = new LoadBeliefs({ beaconExpiryMs: 10_000 })
    beliefs.onBeacon(beacon('a', { arrivalPerSec: 0.5 }), 0)
    beliefs.onBeacon(beacon('b', { arrivalPerSec: 1, sentAt: 20_000 }), 20_000)
    beliefs.onBeacon(beacon('c', { arrivalPerSec: 1.5, sentAt: 20_000 }), 20_000)
    // a's beacon is 25 s old: only b and c count, 2.5/s over a 2 s window.
    expect(beliefs.estimateRivals(25_000, 2000)).toBeCloseTo(5, 9)
    expect(expectedRivals([0.5, 1, 1.5], 2000, 0.5)).toBeCloseTo(3, 9)
  })
})

describe('carryForward', () => {
  it('leaves an estimate unchanged when no time has passed', () => {
    expect(carryForward(3, 0.5, 0, 0.5, 1000)).toEqual({ mean: 3, variance: 0.5 })
  })
})

/** A seeded M/M/1 sample path: the backlog at any time. */
function mm1Path (rho: number, serviceMs: number, horizonMs: number, seed: string): (t: number) => number {
  const rng = seededRng(seed)
  const lambda = rho / serviceMs
  const mu = 1 / serviceMs
  const times = [0]
  const counts = [0]
  let t = 0
  let n = 0
  while (t < horizonMs) {
    const rate = lambda + (n > 0 ? mu : 0)
    t += exponential(rng, 1 / rate)
    n += rng() < lambda / rate ? 1 : -1
    times.push(t)
    counts.push(n)
  }
  return (x: number) => {
    let lo = 0
    let hi = times.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1
      if (times[mid] <= x) lo = mid
      else hi = mid - 1
    }
    return counts[lo]
  }
}

describe('carryForward against a simulated queue', () => {
  it('predicts an M/M/1 backlog seconds ahead better than the stale value, with a variance that matches its error', () => {
    for (const rho of [0.3, 0.7, 0.9]) {
      const backlogAt = mm1Path(rho, 1000, 2e7, `mm1-${rho}`)
      for (const dt of [2000, 8000]) {
        let staleSq = 0
        let beliefSq = 0
        let predicted = 0
        for (let s = 100_000; s + dt < 2e7; s += 20_000) {
          const n0 = backlogAt(s)
          const n1 = backlogAt(s + dt)
          const b = carryForward(n0, 0, dt, rho, 1000)
          staleSq += (n1 - n0) ** 2
          beliefSq += (n1 - b.mean) ** 2
          predicted += b.variance
        }
        expect(beliefSq).toBeLessThan(staleSq)
        const ratio = predicted / beliefSq
        expect(ratio).toBeGreaterThan(0.75)
        expect(ratio).toBeLessThan(1.33)
      }
    }
  })
})
