import { describe, expect, it } from 'vitest'
import { buildScenario, scenarioDefaults } from '../../src/bench/scenarios.js'
import { EXPERT_ADMISSION } from '../../src/core/admission.js'
import { LoadBeliefs } from '../../src/core/beliefs.js'
import { buildDecisionContext, ownPredictedSuccess } from '../../src/core/router.js'
import { PeerObservations } from '../../src/core/scoring.js'
import { seededRng } from '../../src/core/rng.js'
import { loadQuestionSet } from '../../src/data/questions.js'

const set = loadQuestionSet()

describe('expert admission in the paper world\'s topic space', () => {
  // The real data has the owners' domains; the synthetic workload's topics are too few to say much.
  it.skipIf(set.synthetic)('admits most asked questions of the agent\'s own domain and refuses most others', () => {
    const { world } = buildScenario(set, scenarioDefaults('paper'))
    const rng = seededRng('expert-admission')
    let inAdmitted = 0
    let inAsked = 0
    let outAdmitted = 0
    let outAsked = 0
    for (const agent of world.agents) {
      const own = new Set(agent.interests)
      for (let n = 0; n < 60; n++) {
        const q = world.pool.draw(agent.interests, 0.5, rng)
        const success = ownPredictedSuccess(agent.profile, world.embed(q))
        expect(success).toBeDefined()
        const admitted = (success as number) >= EXPERT_ADMISSION.minSuccess ? 1 : 0
        if (own.has(q.subject)) { inAsked++; inAdmitted += admitted } else { outAsked++; outAdmitted += admitted }
      }
    }
    console.log(`expert admission: own-domain questions admitted ${(inAdmitted / inAsked).toFixed(3)}, others ${(outAdmitted / outAsked).toFixed(3)}`)
    expect(inAdmitted / inAsked).toBeGreaterThan(0.6)
    expect(outAdmitted / outAsked).toBeLessThan(0.2)
  })

  it.skipIf(set.synthetic)('leaves out of a decision exactly the candidates whose own admission would refuse the query as not expert', () => {
    const { world } = buildScenario(set, scenarioDefaults('paper'))
    const rng = seededRng('expert-peers')
    const asker = world.agents[0]
    const peers = world.agents.slice(1, 21)
    let kept = 0
    let dropped = 0
    for (let n = 0; n < 40; n++) {
      const q = world.pool.draw(asker.interests, 0.5, rng)
      const embedding = world.embed(q)
      const ctx = (expertPeers: boolean): ReturnType<typeof buildDecisionContext> => buildDecisionContext({
        now: 1000,
        queryId: `q${n}`,
        embedding,
        local: { profile: asker.profile, backlog: 0, serviceMs: 2000 },
        candidates: peers.map(p => ({ id: p.id, profile: p.profile, rttMs: 20 })),
        beliefs: new LoadBeliefs(),
        observations: new PeerObservations(world.embedderId, world.dim),
        latencyWeight: 0.002,
        rng,
        expertPeers
      })
      const would = new Set(peers.filter(p => (ownPredictedSuccess(p.profile, embedding) as number) >= EXPERT_ADMISSION.minSuccess).map(p => p.id))
      const all = ctx(false)
      const experts = ctx(true)
      expect(all.candidates.map(c => c.id)).toEqual(peers.map(p => p.id))
      expect(new Set(experts.candidates.map(c => c.id))).toEqual(would)
      // The kept candidates are scored as without the filter.
      for (const c of experts.candidates) expect(c.success).toEqual(all.candidates.find(x => x.id === c.id)?.success)
      kept += would.size
      dropped += peers.length - would.size
    }
    // Most peers are not expert on a given question, some are.
    expect(kept).toBeGreaterThan(0)
    expect(dropped).toBeGreaterThan(kept)
  })

  it('leaves a space without a corpus reference (hashed) to the plain terms', async () => {
    const { createHashEmbedder } = await import('../../src/core/embedder.js')
    const { buildProfile } = await import('../../src/core/prototypes.js')
    const e = createHashEmbedder()
    const profile = buildProfile(e.id, e.dim, ['a question about cooking rice', 'another on baking bread'].map(t => ({ embedding: e.embed(t), outcome: 1 })))
    expect(ownPredictedSuccess(profile, e.embed('cooking pasta'))).toBeUndefined()
  })
})
