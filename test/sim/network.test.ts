import { describe, expect, it } from 'vitest'
import { fnv1a32, seededRng } from '../../src/core/rng.js'
import { pairHash, roundTripMs } from '../../src/sim/network.js'

describe('network model', () => {
  it('hashes a pair of peer indexes exactly as FNV-1a of "lo:hi"', () => {
    const rng = seededRng(11)
    for (let n = 0; n < 2000; n++) {
      const lo = Math.floor(rng() * (n < 1000 ? 20 : 1_000_000))
      const hi = lo + Math.floor(rng() * 1_000_000)
      const seed = Math.floor(rng() * 4294967296)
      expect(pairHash(lo, hi, seed)).toBe(fnv1a32(`${lo}:${hi}`, seed))
    }
  })

  it('gives each pair one symmetric round trip within the bounds', () => {
    const params = { rttMinMs: 20, rttMaxMs: 150, gossipDelayMs: 100, dialFailureMs: 1000 }
    const seen = new Set<number>()
    for (let a = 0; a < 30; a++) {
      for (let b = 0; b < 30; b++) {
        const r = roundTripMs(params, 1, a, b)
        expect(r).toBe(roundTripMs(params, 1, b, a))
        expect(r).toBeGreaterThanOrEqual(20)
        expect(r).toBeLessThanOrEqual(150)
        seen.add(r)
      }
    }
    expect(seen.size).toBeGreaterThan(400)
  })
})
