import { describe, expect, it } from 'vitest'
import { loadQuestionSet, syntheticQuestionSet } from '../../src/data/questions.js'
import { buildWorld, evaluate, subjectLevelBound, WORLD_DEFAULTS } from './support/personalised.js'

// The data set when present, and the built-in synthetic workload always.
const sets = [loadQuestionSet(), syntheticQuestionSet(1)].filter((s, i, all) => i === 0 || !all[0].synthetic)

/**
 * Tolerances. MMLU-Redux: about 14 profile questions per subject in this split.
 * The synthetic set has 40 questions a subject, so only about 6 here, and the
 * scoring defaults were cross-validated on MMLU-Redux, not on it: a coarser check.
 */
const TOLERANCE = { real: { ece: 0.03, bin: 0.06, own: 0.03 }, synthetic: { ece: 0.06, bin: 0.1, own: 0.05 } }

describe.each(sets.map(set => ({ set, label: set.synthetic ? 'synthetic' : 'MMLU-Redux' })))('calibration of predicted success on held-out training questions ($label)', ({ set, label }) => {
  const tol = set.synthetic ? TOLERANCE.synthetic : TOLERANCE.real
  // Personalised agents (3 owner subjects, a real model's answers there, a 0.6 small model elsewhere), profiles from one half of the training split, questions from the other half.
  const world = buildWorld(set, WORLD_DEFAULTS)
  const r = evaluate(world, undefined)
  const params = `${WORLD_DEFAULTS.agents} agents x ${WORLD_DEFAULTS.asked} questions, ${world.asks.length * world.agents.length} (question, agent) pairs`

  it('predicts success that matches the observed rate in every well-filled bin', () => {
    console.log(`[${label}] ${params}; Brier ${r.brier.toFixed(4)} (constant overall rate ${r.brierConstant.toFixed(4)}), ECE ${r.ece.toFixed(4)}`)
    for (const b of r.bins) console.log(`[${label}]   predicted ${b.from.toFixed(1)}-${b.to.toFixed(1)}: n ${b.n}, mean predicted ${b.predicted.toFixed(3)}, observed ${b.observed.toFixed(3)}`)
    expect(r.ece).toBeLessThan(tol.ece)
    for (const b of r.bins.filter(b => b.n >= 500)) expect(Math.abs(b.predicted - b.observed)).toBeLessThan(tol.bin)
    // Not worse than predicting the overall rate for everyone, which knows nothing of agents or queries.
    expect(r.brier).toBeLessThanOrEqual(r.brierConstant)
  })

  it('predicts the own agent\'s success on its owner\'s questions at its observed rate', () => {
    console.log(`[${label}] own agent: predicted ${r.ownPredicted.toFixed(3)}, observed ${r.ownObserved.toFixed(3)}`)
    expect(Math.abs(r.ownPredicted - r.ownObserved)).toBeLessThan(tol.own)
  })

  it('makes greedy-on-scores at least as accurate as keeping every question local', () => {
    console.log(`[${label}] accuracy: greedy on scores ${r.greedy.toFixed(3)} (delegates ${(100 * r.delegated).toFixed(1)}%, predicted ${r.delegatedPredicted.toFixed(3)} vs right ${r.delegatedObserved.toFixed(3)} when it does), local-only ${r.local.toFixed(3)}, oracle ${r.oracle.toFixed(3)}`)
    expect(r.greedy).toBeGreaterThanOrEqual(r.local)
  })

  it('leaves room for routing: knowing each agent\'s true skill per subject would beat keeping questions local', () => {
    const bound = subjectLevelBound(world, set)
    console.log(`[${label}] subject-level bound: greedy on true per-subject accuracy ${bound.greedy.toFixed(3)} (delegates ${(100 * bound.delegated).toFixed(1)}%), local-only ${bound.local.toFixed(3)}; greedy on predicted scores ${r.greedy.toFixed(3)}`)
    // The agents are experts on their owners' subjects: someone is better than the own agent's small model on most others.
    expect(bound.greedy).toBeGreaterThan(bound.local + 0.05)
    expect(bound.greedy).toBeGreaterThanOrEqual(r.greedy)
  })
})
