import { describe, expect, it } from 'vitest'
import { buildProfile, emptyProfile, mergeClosest, nearestPrototype, observe, prototypeQuality } from '../../src/core/prototypes.js'
import { gaussian, seededRng } from '../../src/core/rng.js'
import type { Rng } from '../../src/core/types.js'
import { dot, normalize } from '../../src/core/vector.js'

const DIM = 32

function axis (i: number): Float32Array {
  const v = new Float32Array(DIM)
  v[i] = 1
  return v
}

/** A unit vector near `centre`: centre plus Gaussian noise of the given size. */
function near (centre: Float32Array, noise: number, rng: Rng): Float32Array {
  const v = Float32Array.from(centre)
  for (let i = 0; i < DIM; i++) v[i] += noise * gaussian(rng)
  return normalize(v)
}

describe('online prototypes', () => {
  it('spawns the first prototype from the first query', () => {
    const p = emptyProfile('test-space', DIM)
    observe(p, axis(0), 1)
    expect(p.prototypes).toHaveLength(1)
    expect(p.prototypes[0].count).toBe(1)
    expect(p.prototypes[0].alpha).toBe(2)
    expect(p.prototypes[0].beta).toBe(1)
    expect(p.version).toBe(1)
  })

  it('moves the nearest prototype toward a near query instead of spawning', () => {
    const p = emptyProfile('test-space', DIM)
    observe(p, axis(0), 1)
    const q = normalize(Float32Array.from(axis(0).map((x, i) => i === 1 ? 0.5 : x)))
    observe(p, q, 0)
    expect(p.prototypes).toHaveLength(1)
    const c = p.prototypes[0]
    expect(c.count).toBe(2)
    expect(dot(c.centroid, axis(1))).toBeGreaterThan(0.1)
    expect(dot(c.centroid, axis(0))).toBeGreaterThan(dot(q, axis(0)))
    expect(prototypeQuality(c)).toBeCloseTo(2 / 4, 10)
    expect(p.version).toBe(2)
  })

  it('spawns a new prototype for a query far from all of them', () => {
    const p = emptyProfile('test-space', DIM)
    observe(p, axis(0))
    observe(p, axis(5))
    expect(p.prototypes).toHaveLength(2)
    expect(nearestPrototype(p, axis(5)).index).toBe(1)
  })

  it('leaves the Beta alone when the outcome is unknown', () => {
    const p = emptyProfile('test-space', DIM)
    observe(p, axis(0))
    observe(p, axis(0))
    expect(p.prototypes[0].alpha).toBe(1)
    expect(p.prototypes[0].beta).toBe(1)
    expect(p.prototypes[0].count).toBe(2)
  })

  it('keeps at most K prototypes by merging the two closest', () => {
    const p = emptyProfile('test-space', DIM)
    for (let i = 0; i < 4; i++) observe(p, axis(i), 1, { maxPrototypes: 4 })
    // Closer to axis 0 than to anything else: after merging, 0 and this share a prototype.
    const tilted = normalize(Float32Array.from(axis(0).map((x, i) => i === 10 ? 1.2 : x)))
    observe(p, tilted, 0, { maxPrototypes: 4, spawnSimilarity: 0.9 })
    expect(p.prototypes).toHaveLength(4)
    const merged = p.prototypes[nearestPrototype(p, tilted).index]
    expect(merged.count).toBe(2)
    expect(merged.alpha).toBe(2)
    expect(merged.beta).toBe(2)
    expect(dot(merged.centroid, axis(0))).toBeGreaterThan(0.5)
    expect(p.prototypes.map(x => x.count).reduce((a, b) => a + b)).toBe(5)
  })

  it('does nothing when merging fewer than two prototypes', () => {
    const p = emptyProfile('test-space', DIM)
    observe(p, axis(0))
    mergeClosest(p)
    expect(p.prototypes).toHaveLength(1)
  })

  it('rejects an outcome outside [0, 1] and an embedding of another dimension', () => {
    const p = emptyProfile('test-space', DIM)
    expect(() => observe(p, axis(0), 1.5)).toThrow(RangeError)
    expect(() => observe(p, new Float32Array(DIM + 1), 1)).toThrow(RangeError)
  })

  it('builds one prototype per well-separated cluster, with each cluster\'s success rate', () => {
    const rng = seededRng('clusters')
    const examples: Array<{ embedding: Float32Array, outcome: number }> = []
    const rates = [0.9, 0.2, 0.6]
    for (let n = 0; n < 60; n++) {
      const c = n % 3
      examples.push({ embedding: near(axis(c * 7), 0.05, rng), outcome: rng() < rates[c] ? 1 : 0 })
    }
    const profile = buildProfile('test-space', DIM, examples)
    expect(profile.prototypes).toHaveLength(3)
    for (let c = 0; c < 3; c++) {
      const proto = profile.prototypes[nearestPrototype(profile, axis(c * 7)).index]
      expect(proto.count).toBe(20)
      const wins = examples.filter((e, i) => i % 3 === c && e.outcome === 1).length
      expect(proto.alpha).toBe(1 + wins)
      expect(proto.beta).toBe(1 + 20 - wins)
      expect(dot(proto.centroid, axis(c * 7))).toBeGreaterThan(0.95)
    }
  })

  it('builds the same profile from the same examples', () => {
    const rng = seededRng(3)
    const examples = Array.from({ length: 40 }, (_, i) => ({ embedding: near(axis(i % 5), 0.3, rng), outcome: i % 2 }))
    const a = buildProfile('test-space', DIM, examples)
    const b = buildProfile('test-space', DIM, examples)
    expect(a).toEqual(b)
    expect(a.prototypes.length).toBeLessThanOrEqual(8)
  })
})

describe('density calibration while learning', () => {
  it('fits the calibration from outcomes in a space with a corpus reference, unless told not to', async () => {
    const { registerReference } = await import('../../src/core/expertise.js')
    registerReference('calibrated-space', Array.from({ length: 4 }, (_, i) => ({ centroid: axis(i), count: 10, alpha: 1, beta: 1 })))
    const fitted = emptyProfile('calibrated-space', DIM)
    const plain = emptyProfile('calibrated-space', DIM)
    const rng = seededRng(3)
    for (let n = 0; n < 40; n++) {
      const q = near(axis(n % 2), 0.1, rng)
      // The same options object every time, as a learner passes it: its resolution is reused, not its first caller's.
      observe(fitted, q, n % 2 === 0 ? 1 : 0, { maxPrototypes: 4 })
      observe(plain, q, n % 2 === 0 ? 1 : 0, { maxPrototypes: 4, calibrate: false })
    }
    expect(fitted.calibration).toBeDefined()
    expect(fitted.calibration!.haa).toBeGreaterThan(20)
    expect(plain.calibration).toBeUndefined()
    // Otherwise the two learned alike.
    expect(plain.prototypes.map(p => p.count)).toEqual(fitted.prototypes.map(p => p.count))
  })
})
