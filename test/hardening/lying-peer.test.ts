import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AgentBackend } from '../../src/agent/backend.js'
import { createHashEmbedder } from '../../src/core/embedder.js'
import { buildProfile } from '../../src/core/prototypes.js'
import { seededRng } from '../../src/core/rng.js'
import { createPpaiNode, type PpaiNode, type PpaiNodeInit } from '../../src/net/node.js'
import { until } from './support.js'

const TOPICS: Record<string, string[]> = {
  astronomy: ['How far is the Moon from the Earth?', 'What is a neutron star made of?', 'Why do planets orbit the Sun in ellipses?', 'What is the redshift of a distant galaxy?', 'How hot is the surface of the Sun?'],
  law: ['What is the statute of limitations for a contract claim?', 'Can a tenant withhold rent for repairs?', 'What makes a will legally valid?', 'What is the difference between a felony and a misdemeanor?', 'Who owns the copyright of a work made for hire?'],
  cooking: ['How long should I boil an egg for a soft yolk?', 'What temperature should I roast a chicken at?', 'How do I make a sourdough starter?', 'Why does bread dough need to rest?', 'How do I caramelise onions properly?']
}
const ALL = Object.values(TOPICS).flat()
/** The victim's queries, as the issue sets them. */
const QUERIES = 200
/** The share is measured over the victim's last this many queries. */
const WINDOW = 50
/** How much the liar claims: pseudo-observations of success on every prototype. */
const CLAIMED_SUCCESSES = 10_000
/** The victim's pace, ms between queries: a busy user, still under the per-peer rate limit of its peers. */
const PACE_MS = 100

/** An agent that answers with its label; the user below knows which labels are right. */
function labelled (label: string): AgentBackend {
  return { description: `labelled (${label})`, answer: async ({ question }) => ({ text: `[${label}] ${question}` }) }
}

describe('a lying peer (claims expertise in everything, answers wrongly)', () => {
  const nodes: PpaiNode[] = []
  let victim: PpaiNode
  let honest: PpaiNode
  let liar: PpaiNode

  beforeAll(async () => {
    const embedder = createHashEmbedder()
    const common: Partial<PpaiNodeInit> = { network: 'liar-test', mdns: false, host: '127.0.0.1', beaconIntervalMs: 500, recordTtlMs: 120_000, logLevel: 'silent', initialServiceMs: 20 }
    // The liar's advertised profile: every topic, near-certain success.
    const claim = buildProfile(embedder.id, embedder.dim, ALL.map(q => ({ embedding: embedder.embed(q), outcome: 1 })))
    for (const p of claim.prototypes) {
      p.alpha = CLAIMED_SUCCESSES
      p.beta = 1
      p.count = CLAIMED_SUCCESSES
    }
    honest = await createPpaiNode({ ...common, name: 'honest', backend: labelled('honest'), seed: ALL.map(question => ({ question, outcome: 1 })) } as PpaiNodeInit)
    const bootstrap = honest.multiaddrs()
    ;[victim, liar] = await Promise.all([
      createPpaiNode({ ...common, name: 'victim', bootstrap, backend: labelled('victim'), seed: ALL.map(question => ({ question, outcome: 0 })) } as PpaiNodeInit),
      createPpaiNode({ ...common, name: 'liar', bootstrap, backend: labelled('liar'), profile: claim } as PpaiNodeInit)
    ])
    nodes.push(honest, victim, liar)
    await until(() => honest.libp2p.getPeers().length >= 2, 10_000, 'bootstrap connections')
    await new Promise(resolve => setTimeout(resolve, 500))
    await Promise.all(nodes.map(async n => { await n.publishProfile(); await n.announced() }))
    await until(() => [honest.peerId, liar.peerId].every(id => victim.peers().some(p => p.peerId === id && p.prototypes.length > 0)), 10_000, 'both profiles at the victim')
  })
  afterAll(async () => { await Promise.all(nodes.map(async n => await n.stop().catch(() => {}))) })

  it(`gets under 5% of the victim's traffic over its last ${WINDOW} of ${QUERIES} queries, from the victim's own feedback`, async () => {
    const rng = seededRng('liar-queries')
    const toLiar: boolean[] = []
    const servedBy: Record<string, number> = {}
    for (let i = 0; i < QUERIES; i++) {
      const question = `${ALL[Math.floor(rng() * ALL.length)]} (asked ${i})`
      const res = await victim.ask(question, { deadlineMs: 10_000 })
      toLiar.push(res.attempts.some(a => a.action === liar.peerId))
      const who = res.servedBy === liar.peerId ? 'liar' : res.servedBy === honest.peerId ? 'honest' : 'local'
      servedBy[who] = (servedBy[who] ?? 0) + 1
      // The user knows the liar's answers are wrong and the expert's right; its own weak agent is wrong too.
      victim.feedback(res.id, who === 'honest' ? 1 : 0)
      await new Promise(resolve => setTimeout(resolve, PACE_MS))
    }
    const share = (from: number, to: number): number => toLiar.slice(from, to).filter(Boolean).length / (to - from)
    const firstShare = share(0, WINDOW)
    const lastShare = share(QUERIES - WINDOW, QUERIES)
    const observed = victim.peers().find(p => p.peerId === liar.peerId)
    console.log(`liar: share of the victim's queries sent to it, first ${WINDOW}: ${(100 * firstShare).toFixed(1)}%, last ${WINDOW}: ${(100 * lastShare).toFixed(1)}%; served by ${JSON.stringify(servedBy)}; victim's observed success of the liar ${observed?.observedSuccess} over ${observed?.observedCount}`)
    // The lie did buy traffic at first (else the test shows nothing), and the victim's own observations took it away.
    expect(toLiar.slice(0, WINDOW).some(Boolean)).toBe(true)
    expect(lastShare).toBeLessThan(0.05)
    expect(observed?.observedSuccess).toBe(0)
  }, 90_000)
})
