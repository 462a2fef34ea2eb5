import { describe, expect, it } from 'vitest'
import { buildProfile, observe, emptyProfile } from '../../src/core/prototypes.js'
import { BucketCode } from '../../src/core/bucket-code.js'
import { CandidateIndex } from '../../src/core/retrieval.js'
import { seededRng } from '../../src/core/rng.js'
import type { Profile } from '../../src/core/types.js'
import { dot, dotEach, dotGather, dotRows } from '../../src/core/vector.js'

const rng = seededRng('kernels')
const vector = (d: number): Float32Array => Float32Array.from({ length: d }, () => rng() * 2 - 1)

describe('dot products four rows at a time', () => {
  const d = 37 // not a multiple of four, nor is the row count: every remainder path runs
  const rows = 11
  const matrix = new Float32Array(rows * d).map(() => rng() * 2 - 1)
  const row = (r: number): Float32Array => matrix.subarray(r * d, r * d + d)
  const v = vector(d)

  it('gives each row bit for bit the dot product of that row alone', () => {
    const out = new Float64Array(rows)
    dotRows(matrix, d, 0, rows, v, out)
    for (let r = 0; r < rows; r++) expect(Object.is(out[r], dot(row(r), v))).toBe(true)
  })

  it('starts at any row, and picks rows by index in any order', () => {
    const some = new Float64Array(5)
    dotRows(matrix, d, 3, 5, v, some)
    const picked = [9, 0, 4, 4, 10, 2]
    const gathered = new Float64Array(picked.length)
    dotGather(matrix, d, picked, picked.length, v, gathered)
    for (let j = 0; j < 5; j++) expect(some[j]).toBe(dot(row(3 + j), v))
    picked.forEach((r, j) => expect(gathered[j]).toBe(dot(row(r), v)))
  })

  it('takes separate vectors too, over the shorter length as dot does', () => {
    const vectors = [vector(d), vector(d), vector(d + 3), vector(d), vector(d - 2), vector(d)]
    const out = new Float64Array(vectors.length)
    dotEach(vectors, vectors.length, v, out)
    vectors.forEach((a, j) => expect(out[j]).toBe(dot(a, v)))
  })
})

describe('building a profile', () => {
  const unit = (...xs: number[]): Float32Array => {
    const n = Math.hypot(...xs)
    return Float32Array.from(xs, x => x / n)
  }
  const same = (examples: Array<{ embedding: Float32Array, outcome: number }>, maxPrototypes: number): void => {
    const opts = { maxPrototypes, refineRounds: 0 }
    const built = buildProfile('test-space', 3, examples, opts)
    const observed = emptyProfile('test-space', 3)
    for (const ex of examples) observe(observed, ex.embedding, ex.outcome, opts)
    expect(built.prototypes).toEqual(observed.prototypes)
  }

  it('learns the same prototypes as observing its examples one by one, however they spawn, move and merge', () => {
    const examples = Array.from({ length: 400 }, () => ({ embedding: unit(rng() - 0.5, rng() - 0.5, rng() - 0.5), outcome: rng() < 0.6 ? 1 : 0 }))
    same(examples, 3)
  })

  it('merges two prototypes that moved together, not the pair their first cosines suggested', () => {
    const a = unit(1, 0, 0)
    const b = unit(0.3, 0.95, 0)
    const far = unit(0, 0, 1)
    const x = (embedding: Float32Array): { embedding: Float32Array, outcome: number } => ({ embedding, outcome: 1 })
    // a, b and far spawn; then queries between a and b pull both toward the middle; then a stranger spawns a fourth.
    const between = Array.from({ length: 40 }, (_, n) => x(n % 2 === 0 ? unit(0.75, 0.66, 0) : unit(0.62, 0.78, 0)))
    const stranger = x(unit(-1, -0.2, -0.3))
    same([x(a), x(b), x(far), ...between, stranger], 3)
  })

  it('compares a merged prototype by where it now is, not where either half was', () => {
    // Cap 2. a, then b with many copies; c spawns and a merges into b (Ward: a has one query); then d = -c spawns.
    // The merged one now lies near b: it and c are the closest pair (c·b 0.3), though a and c were far apart (-0.5).
    const a = unit(1, 0, 0)
    const b = unit(0.33, 0.944, 0)
    const c = unit(-0.5, 0.4926, 0.712)
    const d = c.map(v => -v)
    const x = (embedding: Float32Array): { embedding: Float32Array, outcome: number } => ({ embedding, outcome: 1 })
    same([x(a), ...Array.from({ length: 21 }, () => x(b)), x(c), x(d)], 2)
  })
})

describe('candidate index, trained', () => {
  const dim = 16
  const profileNear = (centre: Float32Array, wins: number): Profile => ({
    embedderId: 'test-space',
    dim,
    version: 1,
    prototypes: [{ centroid: centre, count: 10, alpha: 1 + wins, beta: 11 - wins }]
  })
  const centre = Float32Array.from({ length: dim }, (_, i) => (i === 0 ? 1 : 0))

  it('re-scores the agents the pre-rank puts first, ties going to the earliest indexed', () => {
    const index = new CandidateIndex(new BucketCode('net', dim), { exactBelow: 1, rescore: 2 })
    // Five equal agents: equal pre-ranks and equal scores. Only the two indexed first are re-scored; the output orders them by id.
    for (const id of ['e', 'd', 'c', 'b', 'a']) index.upsert(id, profileNear(centre, 6))
    expect(index.candidates(centre, 2)).toEqual(['d', 'e'])
  })

  it('re-scores only the agents of best pre-rank, wherever they were indexed', () => {
    const index = new CandidateIndex(new BucketCode('net', dim), { exactBelow: 1, rescore: 2 })
    const wins = [2, 9, 3, 8, 1, 7, 4]
    wins.forEach((w, k) => index.upsert(`agent-${k}`, profileNear(centre, w)))
    // Three asked for, two re-scored: the two best.
    expect(index.candidates(centre, 3)).toEqual(['agent-1', 'agent-3'])
  })
})
