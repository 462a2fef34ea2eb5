import { describe, expect, it } from 'vitest'
import { LoadBeliefs } from '../../src/core/beliefs.js'
import { createPolicy } from '../../src/core/policies.js'
import { seededRng } from '../../src/core/rng.js'
import { buildDecisionContext, RouterInputError, type CandidateInput, type RouterInput } from '../../src/core/router.js'
import { DEFAULT_PRIOR, PeerObservations } from '../../src/core/scoring.js'
import type { Profile } from '../../src/core/types.js'

const SPACE = 'test-space-d8'
const DIM = 8

function axis (i: number): Float32Array {
  const v = new Float32Array(DIM)
  v[i] = 1
  return v
}

/** A profile with one prototype on the query's axis, right `wins` times out of `wins + losses`. */
function profile (wins: number, losses: number, embedderId = SPACE): Profile {
  return { embedderId, dim: DIM, version: 1, prototypes: [{ centroid: axis(0), count: wins + losses, alpha: 1 + wins, beta: 1 + losses }] }
}

function input (candidates: CandidateInput[], over: Partial<RouterInput> = {}): RouterInput {
  return {
    now: 10_000,
    queryId: 'q',
    embedding: axis(0),
    local: { profile: profile(10, 30), backlog: 1, serviceMs: 1500 },
    candidates,
    beliefs: new LoadBeliefs(),
    observations: new PeerObservations(SPACE, DIM),
    latencyWeight: 0.05,
    rng: seededRng('router'),
    ...over
  }
}

describe('buildDecisionContext', () => {
  it('scores candidates from their advertised profiles and the own agent from its own', () => {
    const ctx = buildDecisionContext(input([{ id: 'expert', profile: profile(45, 5), rttMs: 20 }, { id: 'novice', profile: profile(5, 45), rttMs: 20 }]))
    const [expert, novice] = ctx.candidates
    expect(expert.success.mean).toBeGreaterThan(0.7)
    expect(novice.success.mean).toBeLessThan(0.3)
    expect(ctx.local.success.mean).toBeLessThan(0.4)
    expect(ctx.local.backlog).toBe(1)
  })

  it('lets what this node observed outweigh what a peer advertises', () => {
    const observations = new PeerObservations(SPACE, DIM)
    for (let i = 0; i < 10; i++) observations.record('liar', axis(0), 0)
    const ctx = buildDecisionContext(input([{ id: 'liar', profile: profile(500, 0), rttMs: 20 }, { id: 'honest', profile: profile(30, 10), rttMs: 20 }], { observations }))
    const byId = new Map(ctx.candidates.map(c => [c.id, c.success.mean]))
    expect(byId.get('liar')!).toBeLessThan(0.5)
    expect(byId.get('liar')!).toBeLessThan(byId.get('honest')!)
  })

  it('tells a newcomer from a known agent by the evidence known of it anywhere', () => {
    const observations = new PeerObservations(SPACE, DIM)
    for (let i = 0; i < 3; i++) observations.record('observed', axis(5), 1)
    const ctx = buildDecisionContext(input([{ id: 'advertised', profile: profile(45, 5), rttMs: 20 }, { id: 'observed', rttMs: 20 }, { id: 'newcomer', rttMs: 20 }], { observations }))
    const familiarity = new Map(ctx.candidates.map(c => [c.id, c.familiarity]))
    expect(familiarity.get('advertised')).toBe(50)
    expect(familiarity.get('observed')).toBe(3)
    expect(familiarity.get('newcomer')).toBe(0)
  })

  it('takes load and service time from the beliefs unless the caller knows the service time', () => {
    const beliefs = new LoadBeliefs()
    beliefs.onBeacon({ peerId: 'busy', backlog: 6, serviceMs: 3000, arrivalPerSec: 0.2, sentAt: 8000 }, 8050)
    const ctx = buildDecisionContext(input([
      { id: 'busy', profile: profile(20, 5), rttMs: 40 },
      { id: 'told', profile: profile(20, 5), rttMs: 40, serviceMs: 700 },
      { id: 'unknown', rttMs: 40 }
    ], { beliefs }))
    const [busy, told, unknown] = ctx.candidates
    expect(busy.backlog).toEqual(beliefs.belief('busy', 10_000))
    expect(busy.backlog.ageMs).toBe(2000)
    expect(busy.serviceMs).toBe(3000)
    expect(told.serviceMs).toBe(700)
    expect(unknown.serviceMs).toBe(1500)
    expect(unknown.backlog.ageMs).toBe(Infinity)
  })

  it('expects rivals from the beaconed arrival rates, unless the caller gives its own estimate', () => {
    const beliefs = new LoadBeliefs()
    for (const peerId of ['a', 'b']) beliefs.onBeacon({ peerId, backlog: 0, serviceMs: 1000, arrivalPerSec: 0.5, sentAt: 9000 }, 9000)
    expect(buildDecisionContext(input([], { beliefs, rivalsWindowMs: 4000 })).expectedRivals).toBeCloseTo(4, 9)
    expect(buildDecisionContext(input([], { beliefs, expectedRivals: 7 })).expectedRivals).toBe(7)
  })

  it('ignores a profile of another embedding space and drops duplicate candidates', () => {
    const ctx = buildDecisionContext(input([
      { id: 'foreign', profile: profile(500, 0, 'other-space'), rttMs: 20 },
      { id: 'foreign', profile: profile(500, 0), rttMs: 20 }
    ]))
    expect(ctx.candidates).toHaveLength(1)
    expect(ctx.candidates[0].success.mean).toBeCloseTo(DEFAULT_PRIOR.mean, 9)
  })

  it('rejects a query embedded in another dimension than the own profile', () => {
    try {
      buildDecisionContext(input([], { embedding: new Float32Array(4) }))
      expect.unreachable()
    } catch (err) {
      expect(err).toBeInstanceOf(RouterInputError)
      expect((err as RouterInputError).reason).toBe('embedding-space')
    }
  })

  it('gives the policies what they need to route away from a believed-busy expert', () => {
    const beliefs = new LoadBeliefs()
    beliefs.onBeacon({ peerId: 'swamped', backlog: 30, serviceMs: 2000, arrivalPerSec: 0.45, sentAt: 9500 }, 9500)
    beliefs.onBeacon({ peerId: 'idle', backlog: 0, serviceMs: 2000, arrivalPerSec: 0.1, sentAt: 9500 }, 9500)
    const ctx = buildDecisionContext(input([{ id: 'swamped', profile: profile(48, 2), rttMs: 20 }, { id: 'idle', profile: profile(40, 10), rttMs: 20 }], { beliefs }))
    expect(createPolicy('greedy').decide(ctx).action).toBe('swamped')
    const ppai = createPolicy('ppai').decide(ctx)
    const p = new Map(ppai.explanation.map(e => [e.action, e.probability]))
    expect(p.get('idle')!).toBeGreaterThan(0.9)
  })
})

describe('PeerObservations lookups', () => {
  it('counts the answers of a peer first asked about before it ever answered', () => {
    const seen = new PeerObservations(SPACE, DIM)
    expect(seen.estimate('p', axis(0))).toBeUndefined()
    expect(seen.count('p')).toBe(0)
    seen.record('p', axis(0), 1)
    seen.record('p', axis(1), 0)
    expect(seen.count('p')).toBe(2)
    expect(seen.estimate('p', axis(0))?.evidence).toBeGreaterThan(0)
  })

  it('knows nothing of a peer evicted or forgotten right after it was asked about', () => {
    const seen = new PeerObservations(SPACE, DIM, { maxPeers: 1 })
    seen.record('a', axis(0), 1)
    expect(seen.count('a')).toBe(1)
    seen.record('b', axis(0), 1)
    expect(seen.count('a')).toBe(0)
    expect(seen.estimate('a', axis(0))).toBeUndefined()
    expect(seen.count('b')).toBe(1)
    seen.forget('b')
    expect(seen.count('b')).toBe(0)
    expect(seen.estimate('b', axis(0))).toBeUndefined()
  })
})
