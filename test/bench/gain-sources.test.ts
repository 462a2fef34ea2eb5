import { describe, expect, it } from 'vitest'
import { formatGainSources, gainSources } from '../../src/bench/gain-sources.js'
import { simulate } from '../../src/sim/simulator.js'
import { smallScenario } from '../sim/helpers.js'

describe('gain by source', () => {
  const { params, built } = smallScenario()

  it('counts every answered query once, and watching a run does not change it', () => {
    const g = gainSources(built.world, params.sim, 'ppai')
    expect(g.queries).toBe(params.sim.queries)
    expect(g.rows).toHaveLength(6)
    expect(g.rows.reduce((s, r) => s + r.queries, 0)).toBe(params.sim.queries)
    expect(g.rows.reduce((s, r) => s + r.gainPts, 0)).toBeCloseTo(g.totalPts, 9)
    // The same run without the hook: the same accuracy.
    expect(simulate(built.world, params.sim, 'ppai').result.accuracy).toBe(g.accuracy)
    // Answers by the own agent gain nothing over it, by definition.
    for (const r of g.rows.filter(r => r.server === 'own')) expect(r.gainPts).toBe(0)
  })

  it('gives local-only nothing but own answers, and the oracle a positive gain, most of it from experts on other questions', () => {
    const local = gainSources(built.world, params.sim, 'local-only')
    expect(local.rows.filter(r => r.server !== 'own').every(r => r.queries === 0)).toBe(true)
    expect(local.totalPts).toBe(0)
    const oracle = gainSources(built.world, params.sim, 'oracle')
    expect(oracle.totalPts).toBeGreaterThan(1)
    const experts = oracle.rows.find(r => r.interest === 'other' && r.server === 'expert')
    expect(experts?.gainPts).toBeGreaterThan(oracle.totalPts / 2)
    expect(formatGainSources(oracle)).toMatch(/^oracle \d+\.\d\d% over 1500 queries, expected gain over the own agents \+\d+\.\d\d pts: owner's-interest questions answered by own \d+/)
  })
})
