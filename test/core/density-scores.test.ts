import { describe, expect, it } from 'vitest'
import { BucketCode } from '../../src/core/bucket-code.js'
import { DensityScores } from '../../src/core/density-scores.js'
import { predictsByDensity, registerReference } from '../../src/core/expertise.js'
import { buildProfile } from '../../src/core/prototypes.js'
import { CandidateIndex } from '../../src/core/retrieval.js'
import { seededRng } from '../../src/core/rng.js'
import { predictSuccess } from '../../src/core/scoring.js'
import type { Profile } from '../../src/core/types.js'

// A small space with a corpus reference, so that calibrated profiles predict by density.
const SPACE = 'test-density-d12'
const DIM = 12
const rng = seededRng('density-scores')

function unit (v: Float32Array): Float32Array {
  let n = 0
  for (const x of v) n += x * x
  return v.map(x => x / Math.sqrt(n))
}

/** A point near axis `topic`: the space's topics are its axes. */
function near (topic: number): Float32Array {
  const v = new Float32Array(DIM).map(() => 0.3 * (rng() - 0.5))
  v[topic] += 1
  return unit(v)
}

registerReference(SPACE, Array.from({ length: DIM }, (_, t) => ({ centroid: near(t), count: 10, alpha: 1, beta: 1 })))

/** An agent good at one or two topics (right 90% there, 40% elsewhere); without outcomes, no calibration. */
function agent (withOutcomes: boolean): Profile {
  const strong = [Math.floor(rng() * DIM), Math.floor(rng() * DIM)]
  const examples = Array.from({ length: 30 }, (_, n) => {
    const t = n < 20 ? strong[n % 2] : Math.floor(rng() * DIM)
    return { embedding: near(t), outcome: withOutcomes ? (rng() < (strong.includes(t) ? 0.9 : 0.4) ? 1 : 0) : undefined }
  })
  return buildProfile(SPACE, DIM, examples)
}

function exhaustive (profiles: Map<string, Profile>, q: Float32Array, k: number): Array<{ agentId: string, score: number }> {
  return [...profiles].map(([agentId, p]) => ({ agentId, score: predictSuccess(p, q).mean }))
    .sort((a, b) => b.score - a.score || (a.agentId < b.agentId ? -1 : 1)).slice(0, k)
}

/** `rank(q, k)` is the exhaustive top `k` with its scores, for queries near every topic in turn. */
function expectExact (profiles: Map<string, Profile>, rank: (q: Float32Array, k: number) => Array<{ agentId: string, score: number }>, queries: number, k: number): void {
  for (let n = 0; n < queries; n++) {
    const q = near(n % DIM)
    const got = rank(q, k)
    const truth = exhaustive(profiles, q, k)
    expect(got.map(c => c.agentId)).toEqual(truth.map(c => c.agentId))
    got.forEach((c, i) => expect(c.score).toBeCloseTo(truth[i].score, 12))
  }
}

describe('exact scores of the profiles that predict by density', () => {
  it('finds the true top agents with predictSuccess\'s scores, and follows removals and replacements', () => {
    const profiles = new Map<string, Profile>(Array.from({ length: 300 }, (_, i) => [`a${String(i).padStart(3, '0')}`, agent(true)]))
    for (const p of profiles.values()) expect(predictsByDensity(p)).toBe(true)
    const scores = new DensityScores(DIM)
    for (const [id, p] of profiles) expect(scores.set(id, p)).toBe(true)
    expectExact(profiles, (q, k) => scores.top(q, k), 30, 7)
    const q = near(3)
    const first = scores.top(q, 1)[0].agentId
    scores.remove(first)
    profiles.delete(first)
    expect(scores.size).toBe(299)
    expect(scores.top(q, 5).map(c => c.agentId)).toEqual(exhaustive(profiles, q, 5).map(c => c.agentId))
    // A profile without outcomes has no calibration: it is not held.
    expect(scores.set('plain', agent(false))).toBe(false)
    expect(scores.size).toBe(299)
  })

  it('lets the candidate index rank calibrated and uncalibrated profiles together, each by its own predictor', () => {
    const profiles = new Map<string, Profile>()
    for (let i = 0; i < 200; i++) profiles.set(`c${String(i).padStart(3, '0')}`, agent(i % 4 !== 0))
    const index = new CandidateIndex(new BucketCode('test-density', DIM))
    for (const [id, p] of profiles) index.upsert(id, p)
    expect(index.size).toBe(200)
    // Only the uncalibrated quarter is filed as prototypes in the cells.
    expect(index.prototypes).toBe([...profiles.values()].filter(p => !predictsByDensity(p)).reduce((s, p) => s + p.prototypes.length, 0))
    expectExact(profiles, (q, k) => index.rankedCandidates(q, k), 24, 10)
    index.remove('c001')
    expect(index.size).toBe(199)
    expect(index.profileOf('c001')).toBeUndefined()
  })
})
