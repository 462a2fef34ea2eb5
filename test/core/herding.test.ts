import { describe, expect, it } from 'vitest'
import { createPolicy } from '../../src/core/policies.js'
import { seededRng } from '../../src/core/rng.js'
import type { Candidate, DecisionContext } from '../../src/core/types.js'

const DECIDERS = 1000
const NEAR_EQUAL = ['a', 'b', 'c', 'd']

/** One stale snapshot every decider sees: four near-equal experts, two weak ones, all beaconed idle 4 s ago. */
function snapshot (rng: DecisionContext['rng']): DecisionContext {
  const expert = (id: string, mean: number): Candidate => ({
    id,
    success: { mean, variance: 0.0004, evidence: 400 },
    backlog: { mean: 0, variance: 0.5, ageMs: 4000 },
    serviceMs: 2000,
    rttMs: 30
  })
  return {
    now: 10_000,
    queryId: 'q-herd',
    local: { success: { mean: 0.5, variance: 0.001, evidence: 200 }, backlog: 0, serviceMs: 3000 },
    candidates: [expert('a', 0.82), expert('b', 0.81), expert('c', 0.80), expert('d', 0.80), expert('weak1', 0.55), expert('weak2', 0.55)],
    latencyWeight: 0.002,
    // Every other decider places its query in the same window.
    expectedRivals: DECIDERS - 1,
    rng
  }
}

function tally (policyName: 'greedy' | 'least-loaded' | 'ppai'): Map<string, number> {
  // Herding is about stale snapshots, not the winner's curse: no selection margin, so that near-equal agents are chosen at all.
  const policy = createPolicy(policyName, { selectionNoise: 0 })
  const counts = new Map<string, number>()
  for (let i = 0; i < DECIDERS; i++) {
    const decision = policy.decide(snapshot(seededRng(`decider-${i}`)))
    counts.set(decision.action, (counts.get(decision.action) ?? 0) + 1)
  }
  return counts
}

describe('herding on one stale snapshot', () => {
  it('greedy sends every decider to the same agent', () => {
    const counts = tally('greedy')
    expect(counts.get('a')).toBe(DECIDERS)
    expect(counts.size).toBe(1)
  })

  it('least-loaded sends every decider to the same agent too', () => {
    const counts = tally('least-loaded')
    expect(counts.size).toBe(1)
  })

  it('ppai spreads its sampled choices over the near-equal agents', () => {
    const counts = tally('ppai')
    const delegated = NEAR_EQUAL.reduce((s, id) => s + (counts.get(id) ?? 0), 0)
    expect(delegated).toBeGreaterThan(150)
    for (const id of NEAR_EQUAL) {
      const share = (counts.get(id) ?? 0) / delegated
      expect(share).toBeGreaterThan(0.15)
      expect(share).toBeLessThan(0.35)
    }
    // No agent receives more than a fifth of the whole crowd.
    expect(Math.max(...counts.values()) / DECIDERS).toBeLessThan(0.2 + (counts.get('local') ?? 0) / DECIDERS)
    const mostToOneExpert = Math.max(...NEAR_EQUAL.map(id => counts.get(id) ?? 0))
    expect(mostToOneExpert).toBeLessThan(DECIDERS / 5)
  })

  it('ppai samples each action as often as its equilibrium probability says', () => {
    const policy = createPolicy('ppai', { selectionNoise: 0 })
    const probabilities = new Map(policy.decide(snapshot(seededRng('probe'))).explanation.map(e => [e.action, e.probability]))
    const counts = tally('ppai')
    for (const [action, p] of probabilities) {
      const observed = (counts.get(action) ?? 0) / DECIDERS
      // Four standard errors of a binomial share.
      expect(Math.abs(observed - p)).toBeLessThanOrEqual(4 * Math.sqrt(p * (1 - p) / DECIDERS) + 1e-9)
    }
  })
})
