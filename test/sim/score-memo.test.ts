import { describe, expect, it } from 'vitest'
import { createHashEmbedder } from '../../src/core/embedder.js'
import { buildProfile, observe } from '../../src/core/prototypes.js'
import { predictSuccess } from '../../src/core/scoring.js'
import { ScoreMemo } from '../../src/sim/score-memo.js'

describe('advertised score memo', () => {
  const embedder = createHashEmbedder()
  const texts = ['the derivative of a polynomial', 'integrals of rational functions', 'the french revolution and its causes', 'cell membranes and diffusion']
  const profile = buildProfile(embedder.id, embedder.dim, texts.map((t, i) => ({ embedding: embedder.embed(t), outcome: i % 2 })))
  const queries = ['what is the derivative of x squared', 'who stormed the bastille'].map(t => embedder.embed(t))

  it('answers exactly what predictSuccess answers, computing each (profile, query) once', () => {
    const opts = {}
    const memo = new ScoreMemo(opts)
    for (let round = 0; round < 3; round++) {
      for (const q of queries) expect(memo.predict(profile, q, opts)).toEqual(predictSuccess(profile, q, opts))
    }
    expect(memo.stats).toEqual({ hits: 4, misses: 2 })
  })

  it('recomputes once the profile changes version', () => {
    const p = structuredClone(profile)
    const memo = new ScoreMemo()
    const before = memo.predict(p, queries[0])
    for (let n = 0; n < 20; n++) observe(p, queries[0], 1)
    const after = memo.predict(p, queries[0])
    expect(after).toEqual(predictSuccess(p, queries[0]))
    expect(after.mean).not.toBe(before.mean)
    expect(memo.stats.misses).toBe(2)
  })

  it('does not memoise calls made with other options', () => {
    const memo = new ScoreMemo({})
    const other = { prior: { mean: 0.2, weight: 2 } }
    expect(memo.predict(profile, queries[1], other)).toEqual(predictSuccess(profile, queries[1], other))
    expect(memo.stats).toEqual({ hits: 0, misses: 0 })
  })
})
