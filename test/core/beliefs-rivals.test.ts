import { describe, expect, it } from 'vitest'
import { LoadBeliefs } from '../../src/core/beliefs.js'
import { seededRng } from '../../src/core/rng.js'

/** Random beacons, refusals, responses and departures from `peers` peers; after each step the incremental estimate is compared with the loop over every peer. */
function checkAgainstScan (opts: { peers: number, maxPeers: number, steps: number, clockGoesBack: boolean, seed: number }): { checks: number, nonZero: number } {
  const rng = seededRng(opts.seed)
  const beliefs = new LoadBeliefs({ maxPeers: opts.maxPeers, beaconExpiryMs: 5000 })
  let now = 0
  let checks = 0
  let nonZero = 0
  for (let step = 0; step < opts.steps; step++) {
    now += rng() * 400
    const asked = opts.clockGoesBack && rng() < 0.05 ? now - rng() * 8000 : now
    const peer = `p${Math.floor(rng() * opts.peers)}`
    const r = rng()
    if (r < 0.6) {
      // Some beacons arrive late (sent long before), some carry no arrivals.
      const sentAt = now - (rng() < 0.2 ? rng() * 20_000 : rng() * 200)
      beliefs.onBeacon({ peerId: peer, backlog: Math.floor(rng() * 5), serviceMs: 1000 + rng() * 2000, arrivalPerSec: rng() < 0.1 ? 0 : rng() * 0.8, sentAt }, now)
    } else if (r < 0.75) {
      beliefs.onRefusal(peer, Math.floor(rng() * 6), now)
    } else if (r < 0.9) {
      beliefs.onResponse(peer, { latencyMs: 500 + rng() * 5000, rttMs: 50 }, now)
    } else {
      beliefs.forget(peer)
    }
    const fast = beliefs.estimateRivals(asked, 2000, 0.7)
    const scan = beliefs.estimateRivalsByScan(asked, 2000, 0.7)
    expect(fast).toBeCloseTo(scan, 9)
    checks++
    if (scan > 0) nonZero++
  }
  return { checks, nonZero }
}

describe('LoadBeliefs.estimateRivals (incremental)', () => {
  it('equals the loop over every peer while beacons arrive, age out and peers are forgotten', () => {
    const { nonZero, checks } = checkAgainstScan({ peers: 60, maxPeers: 1024, steps: 4000, clockGoesBack: false, seed: 7 })
    // The check means something only if the sum is often non-zero and sometimes zero.
    expect(nonZero).toBeGreaterThan(checks / 2)
    expect(nonZero).toBeLessThan(checks)
  })

  it('equals the loop when peers are evicted over the cap', () => {
    checkAgainstScan({ peers: 200, maxPeers: 32, steps: 4000, clockGoesBack: false, seed: 8 })
  })

  it('equals the loop when asked at an earlier time than before', () => {
    checkAgainstScan({ peers: 60, maxPeers: 1024, steps: 3000, clockGoesBack: true, seed: 9 })
  })

  it('drops a peer whose beacon is older than the expiry, and counts it again after a new beacon', () => {
    const beliefs = new LoadBeliefs({ beaconExpiryMs: 1000 })
    beliefs.onBeacon({ peerId: 'a', backlog: 1, serviceMs: 1000, arrivalPerSec: 2, sentAt: 0 }, 0)
    beliefs.onBeacon({ peerId: 'b', backlog: 1, serviceMs: 1000, arrivalPerSec: 1, sentAt: 500 }, 500)
    expect(beliefs.estimateRivals(1000, 1000)).toBeCloseTo(3, 12)
    expect(beliefs.estimateRivals(1200, 1000)).toBeCloseTo(1, 12)
    expect(beliefs.estimateRivals(1600, 1000)).toBe(0)
    beliefs.onBeacon({ peerId: 'a', backlog: 1, serviceMs: 1000, arrivalPerSec: 4, sentAt: 1700 }, 1700)
    expect(beliefs.estimateRivals(1800, 1000)).toBeCloseTo(4, 12)
  })
})
