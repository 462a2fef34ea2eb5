import { describe, expect, it } from 'vitest'
import { runBench } from '../../src/bench/run.js'
import { POLICY_NAMES } from '../../src/core/types.js'
import { syntheticQuestionSet } from '../../src/data/questions.js'
import { simulate } from '../../src/sim/simulator.js'
import { smallScenario } from './helpers.js'

describe('simulator', () => {
  it('gives byte-identical JSON for the same seed, and different JSON for another seed', () => {
    const set = syntheticQuestionSet(1)
    const a = smallScenario()
    const b = smallScenario()
    const c = smallScenario(p => { p.sim.seed = 2 })
    const policies = ['ppai', 'greedy', 'local-only'] as const
    const ja = JSON.stringify(runBench('paper', a.params, set, policies, undefined, a.built).result)
    const jb = JSON.stringify(runBench('paper', b.params, set, policies, undefined, b.built).result)
    const jc = JSON.stringify(runBench('paper', c.params, set, policies, undefined, c.built).result)
    expect(ja).toBe(jb)
    expect(jc).not.toBe(ja)
  })

  it('answers every query under heavy churn: lost = 0 for every policy, with failures met and recovered', () => {
    const { params, built } = smallScenario(p => {
      // Sessions far shorter than in the scenarios, so that many requests are caught by a departure.
      p.sim.churn = { enabled: true, meanOnlineMs: 20_000, meanOfflineMs: 10_000 }
      p.sim.queries = 2000
    })
    let failed = 0
    for (const policy of POLICY_NAMES) {
      const run = simulate(built.world, params.sim, policy)
      expect(run.result.lost, policy).toBe(0)
      expect(run.result.queries, policy).toBe(2000)
      failed += run.result.failed
    }
    expect(failed).toBeGreaterThan(0)
  })

  it('counts unanswered queries as lost when the run is cut short', () => {
    const { params, built } = smallScenario(p => {
      p.sim.drainLimitMs = 0
      p.sim.load = 1.5
    })
    const run = simulate(built.world, params.sim, 'local-only')
    expect(run.result.lost).toBeGreaterThan(0)
    expect(run.result.lost).toBeLessThan(run.result.queries)
  })

  it('shows policies stale beliefs, never the true queues', () => {
    // Enough queries for over a thousand candidate views although askers leave out the peers that would refuse.
    const { params, built } = smallScenario(p => { p.sim.queries = 2000 })
    let views = 0
    let aged = 0
    let differs = 0
    let oracleSeen = 0
    for (const policy of ['ppai', 'least-loaded'] as const) {
      simulate(built.world, params.sim, policy, undefined, {
        onDecision: (ctx, trueBacklog) => {
          if (ctx.oracle !== undefined) oracleSeen++
          for (const c of ctx.candidates) {
            views++
            if (c.backlog.ageMs > 0) aged++
            if (Math.abs(c.backlog.mean - trueBacklog(c.id)) > 1e-9) differs++
          }
        }
      })
    }
    expect(views).toBeGreaterThan(1000)
    expect(oracleSeen).toBe(0)
    // Beliefs rest on beacons (or refusals) from the past: almost never of age 0...
    expect(aged / views).toBeGreaterThan(0.95)
    // ...and they often disagree with the queue as it is now.
    expect(differs / views).toBeGreaterThan(0.3)
  })

  it('lets only the oracle see the truth', () => {
    const { params, built } = smallScenario(p => { p.sim.queries = 300 })
    let withOracle = 0
    simulate(built.world, params.sim, 'oracle', undefined, { onDecision: ctx => { if (ctx.oracle !== undefined) withOracle++ } })
    expect(withOracle).toBeGreaterThan(0)
  })

  it('runs every policy on the same arrivals: the same number of queries at the same offered load', () => {
    const { params, built } = smallScenario(p => { p.sim.queries = 800 })
    const local = simulate(built.world, params.sim, 'local-only')
    const greedy = simulate(built.world, params.sim, 'greedy')
    expect(greedy.result.queries).toBe(local.result.queries)
    // The arrivals end at the same instant; only the drain after them may differ.
    expect(local.result.delegated).toBe(0)
    expect(greedy.result.delegated).toBeGreaterThan(0)
  })

  it('serves remote queries only when admitted: a zero owner wait bound refuses every one', () => {
    const { params, built } = smallScenario(p => {
      p.sim.ownerWaitBoundMs = 0
      p.sim.queries = 600
    })
    const run = simulate(built.world, params.sim, 'greedy')
    expect(run.result.delegated).toBe(0)
    expect(run.result.refused).toBeGreaterThan(0)
    expect(run.result.lost).toBe(0)
  })
})
