import { describe, expect, it } from 'vitest'
import { buildScenario, scenarioDefaults } from '../../src/bench/scenarios.js'
import { QUALITY_MARGINS, routingQuality } from '../../src/bench/routing-quality.js'
import { syntheticQuestionSet } from '../../src/data/questions.js'

describe('routing quality without load', () => {
  const p = scenarioDefaults('paper')
  const built = buildScenario(syntheticQuestionSet(1), p)
  const q = routingQuality(built.world, { agents: 20, perAgent: 40, ownInterestShare: p.sim.ownInterestShare, candidates: p.sim.candidatesPerQuery, seed: 1 })

  it('reports the best-scored choice at each margin: a larger margin delegates less, and the accuracies are shares', () => {
    expect(q.pairs).toBe(800)
    expect(q.bestScoredAtMargin.map(m => m.margin)).toEqual([...QUALITY_MARGINS])
    for (const m of q.bestScoredAtMargin) {
      expect(m.accuracy).toBeGreaterThanOrEqual(0)
      expect(m.accuracy).toBeLessThanOrEqual(1)
    }
    const shares = q.bestScoredAtMargin.map(m => m.delegated)
    for (let i = 1; i < shares.length; i++) expect(shares[i]).toBeLessThanOrEqual(shares[i - 1])
    // Some delegation at the smallest margin, none of it counted twice.
    expect(shares[0]).toBeGreaterThan(0)
    expect(shares[0]).toBeLessThan(1)
  })

  it('with no candidates, every choice at every margin is the own agent\'s', () => {
    const far = routingQuality(built.world, { agents: 20, perAgent: 40, ownInterestShare: p.sim.ownInterestShare, candidates: 0, seed: 1 })
    for (const m of far.bestScoredAtMargin) {
      expect(m.delegated).toBe(0)
      expect(m.accuracy).toBe(far.local)
    }
    expect(far.bestScored).toBe(far.local)
  })
})
