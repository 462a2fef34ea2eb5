import { describe, expect, it } from 'vitest'
import { createPolicy, explorationBonus, PolicyError } from '../../src/core/policies.js'
import { seededRng } from '../../src/core/rng.js'
import { POLICY_NAMES, type Candidate, type DecisionContext, type PolicyName } from '../../src/core/types.js'

function candidate (id: string, success: number, backlog = 0, over: Partial<Candidate> = {}): Candidate {
  return {
    id,
    success: { mean: success, variance: 0.0005, evidence: 300 },
    backlog: { mean: backlog, variance: 0.5, ageMs: 2000 },
    serviceMs: 1000,
    rttMs: 20,
    ...over
  }
}

function context (candidates: Candidate[], over: Partial<DecisionContext> = {}): DecisionContext {
  return {
    now: 0,
    queryId: 'q1',
    local: { success: { mean: 0.5, variance: 0.001, evidence: 100 }, backlog: 0, serviceMs: 1500 },
    candidates,
    latencyWeight: 0.05,
    expectedRivals: 0,
    rng: seededRng('policies'),
    ...over
  }
}

function counts (name: PolicyName, make: (i: number) => DecisionContext, n: number): Map<string, number> {
  const policy = createPolicy(name)
  const out = new Map<string, number>()
  for (let i = 0; i < n; i++) {
    const action = policy.decide(make(i)).action
    out.set(action, (out.get(action) ?? 0) + 1)
  }
  return out
}

describe('createPolicy', () => {
  it('builds every named policy, and each decision explains itself', () => {
    const ctx = context([candidate('a', 0.9), candidate('b', 0.7, 3)], {
      oracle: { trueSuccess: id => id === 'a' ? 1 : 0, trueBacklog: () => 0 }
    })
    for (const name of POLICY_NAMES) {
      const decision = createPolicy(name).decide(ctx)
      expect(decision.policy).toBe(name)
      expect(decision.reason.startsWith(name)).toBe(true)
      expect(decision.explanation.map(e => e.action)).toEqual(['local', 'a', 'b'])
      expect(decision.fallbacks).not.toContain('local')
      expect(decision.fallbacks).not.toContain(decision.action)
      for (const e of decision.explanation) expect(e.utility).toBeCloseTo(e.success - ctx.latencyWeight * e.expectedLatencyMs / 1000, 9)
    }
  })

  it('rejects an unknown policy name with a countable reason', () => {
    expect(() => createPolicy('best-guess' as PolicyName)).toThrow(PolicyError)
    try {
      createPolicy('best-guess' as PolicyName)
    } catch (err) {
      expect((err as PolicyError).reason).toBe('unknown-policy')
    }
  })
})

describe('local-only', () => {
  it('keeps every query on the own agent, with nothing to fall back to', () => {
    const decision = createPolicy('local-only').decide(context([candidate('a', 0.99)]))
    expect(decision.action).toBe('local')
    expect(decision.fallbacks).toEqual([])
    expect(decision.explanation.find(e => e.action === 'local')?.probability).toBe(1)
  })
})

describe('random', () => {
  it('draws a candidate uniformly and never keeps the query local while there are candidates', () => {
    const cands = [candidate('a', 0.9), candidate('b', 0.2), candidate('c', 0.5, 9)]
    const n = 3000
    const tally = counts('random', i => context(cands, { rng: seededRng(i) }), n)
    expect(tally.has('local')).toBe(false)
    for (const id of ['a', 'b', 'c']) expect(Math.abs((tally.get(id) ?? 0) / n - 1 / 3)).toBeLessThan(0.04)
  })

  it('answers locally when there is no candidate', () => {
    expect(createPolicy('random').decide(context([])).action).toBe('local')
  })
})

describe('greedy', () => {
  it('picks the highest predicted success whatever its load', () => {
    const decision = createPolicy('greedy').decide(context([candidate('busy-expert', 0.95, 50), candidate('idle', 0.8)]))
    expect(decision.action).toBe('busy-expert')
    expect(decision.fallbacks).toEqual(['idle'])
  })

  it('keeps the query local when the own agent predicts best', () => {
    const decision = createPolicy('greedy').decide(context([candidate('a', 0.4)], { local: { success: { mean: 0.7, variance: 0, evidence: 10 }, backlog: 0, serviceMs: 1000 } }))
    expect(decision.action).toBe('local')
    expect(decision.fallbacks).toEqual(['a'])
  })
})

describe('least-loaded', () => {
  it('picks the lowest believed backlog among candidates, ignoring success', () => {
    const decision = createPolicy('least-loaded').decide(context([candidate('expert', 0.95, 4), candidate('novice', 0.3, 1), candidate('mid', 0.7, 2)]))
    expect(decision.action).toBe('novice')
    expect(decision.fallbacks).toEqual(['mid', 'expert'])
  })
})

describe('power-of-two', () => {
  const cands = [candidate('a', 0.9, 3), candidate('b', 0.88, 0), candidate('c', 0.86, 1), candidate('d', 0.84, 2), candidate('e', 0.3, 0)]

  it('never leaves the top K by score, and never picks the most loaded of them', () => {
    const n = 2000
    const tally = counts('power-of-two', i => context(cands, { rng: seededRng(i) }), n)
    expect(tally.has('e')).toBe(false)
    expect(tally.has('a')).toBe(false)
    expect(tally.has('local')).toBe(false)
  })

  it('picks as often as its stated probability: drawn with a more loaded one', () => {
    const policy = createPolicy('power-of-two')
    const stated = new Map(policy.decide(context(cands)).explanation.map(e => [e.action, e.probability]))
    // Load order in the top 4: b (0), c (1), d (2), a (3): chances 3/6, 2/6, 1/6, 0.
    expect(stated.get('b')).toBeCloseTo(0.5, 12)
    expect(stated.get('a')).toBe(0)
    const n = 3000
    const tally = counts('power-of-two', i => context(cands, { rng: seededRng(`p2-${i}`) }), n)
    for (const [action, p] of stated) expect(Math.abs((tally.get(action) ?? 0) / n - p)).toBeLessThan(0.04)
  })
})

describe('oracle', () => {
  it('maximises true success minus λ·true latency, not the predicted scores', () => {
    const ctx = context([candidate('looks-good', 0.95), candidate('truly-good', 0.5), candidate('right-but-swamped', 0.5)], {
      latencyWeight: 0.05,
      oracle: {
        trueSuccess: id => id === 'looks-good' ? 0 : id === 'local' ? 0 : 1,
        trueBacklog: id => id === 'right-but-swamped' ? 10 : 0
      }
    })
    const decision = createPolicy('oracle').decide(ctx)
    expect(decision.action).toBe('truly-good')
    expect(decision.fallbacks[0]).toBe('right-but-swamped')
  })

  it('refuses to decide without the true state', () => {
    try {
      createPolicy('oracle').decide(context([candidate('a', 0.9)]))
      expect.unreachable()
    } catch (err) {
      expect(err).toBeInstanceOf(PolicyError)
      expect((err as PolicyError).reason).toBe('no-oracle')
    }
  })
})

describe('ppai', () => {
  it('takes a clearly better idle expert', () => {
    const decision = createPolicy('ppai').decide(context([candidate('expert', 0.95), candidate('weak', 0.55)]))
    expect(decision.action).toBe('expert')
    expect(decision.explanation.find(e => e.action === 'expert')!.probability).toBeGreaterThan(0.9)
    expect(decision.fallbacks).toEqual(['weak'])
  })

  it('avoids an expert whose believed backlog costs more than its gain', () => {
    const decision = createPolicy('ppai').decide(context([candidate('swamped', 0.95, 20), candidate('idle', 0.85)]))
    const p = new Map(decision.explanation.map(e => [e.action, e.probability]))
    expect(p.get('idle')!).toBeGreaterThan(p.get('swamped')!)
    expect(decision.fallbacks).toEqual(decision.action === 'swamped' ? ['idle'] : ['swamped'])
  })

  it('samples its action from the strategy, so equal contexts with different rngs differ', () => {
    const cands = [candidate('a', 0.8), candidate('b', 0.8)]
    const tally = counts('ppai', i => context(cands, { rng: seededRng(i), expectedRivals: 10 }), 400)
    expect(tally.get('a') ?? 0).toBeGreaterThan(120)
    expect(tally.get('b') ?? 0).toBeGreaterThan(120)
  })

  it('tries a newcomer with little evidence more often than an equal known agent', () => {
    const known = candidate('known', 0.7)
    const newcomer = candidate('newcomer', 0.7, 0, { success: { mean: 0.7, variance: 0.04, evidence: 2 } })
    const decision = createPolicy('ppai').decide(context([known, newcomer], { expectedRivals: 3 }))
    const p = new Map(decision.explanation.map(e => [e.action, e.probability]))
    expect(p.get('newcomer')!).toBeGreaterThan(p.get('known')!)
    const withoutExploration = createPolicy('ppai', { exploration: 0 }).decide(context([known, newcomer], { expectedRivals: 3 }))
    const q = new Map(withoutExploration.explanation.map(e => [e.action, e.probability]))
    expect(Math.abs(q.get('newcomer')! - q.get('known')!)).toBeLessThan(1e-9)
  })

  it('shrinks the exploration bonus as evidence grows, so a peer with a profile behind its score gets almost none', () => {
    const withEvidence = (evidence: number): Candidate => candidate('x', 0.6, 0, { success: { mean: 0.6, variance: 0.04, evidence } })
    const bonuses = [0, 1, 10, 100].map(n => explorationBonus(withEvidence(n), 0.5))
    expect(bonuses[0]).toBeCloseTo(0.5 * 0.2, 12)
    for (let i = 1; i < bonuses.length; i++) expect(bonuses[i]).toBeLessThan(bonuses[i - 1])
    expect(bonuses[3]).toBeLessThan(0.01 * bonuses[0])
  })

  it('gives no newcomer\'s bonus to a known agent asked far from its expertise', () => {
    // Nothing near this query, so its score has the prior's variance: but its profile and answers say it is no newcomer.
    const farFromExpertise = (familiarity?: number): Candidate => candidate('x', 0.6, 0, { success: { mean: 0.6, variance: 0.04, evidence: 0 }, familiarity })
    expect(explorationBonus(farFromExpertise(undefined), 0.5)).toBeCloseTo(0.1, 12)
    expect(explorationBonus(farFromExpertise(0), 0.5)).toBeCloseTo(0.1, 12)
    expect(explorationBonus(farFromExpertise(150), 0.5)).toBeLessThan(0.001)
  })

  it('orders its fallbacks by expected utility', () => {
    const decision = createPolicy('ppai').decide(context([candidate('a', 0.6), candidate('b', 0.9), candidate('c', 0.75)], { rng: () => 0.999999 }))
    const utility = new Map(decision.explanation.map(e => [e.action, e.utility]))
    const fallbackUtilities = decision.fallbacks.map(id => utility.get(id)!)
    expect(fallbackUtilities).toEqual(fallbackUtilities.slice().sort((x, y) => y - x))
    expect(decision.explanation.reduce((s, e) => s + e.probability, 0)).toBeCloseTo(1, 12)
  })
})
