import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AgentBackend } from '../../src/agent/backend.js'
import { createInstantBackend } from '../../src/agent/instant.js'
import type { DecisionContext, LoadBeacon, RoutingPolicy } from '../../src/core/types.js'
import { AskError } from '../../src/net/ask-error.js'
import { createHashEmbedder } from '../../src/core/embedder.js'
import { encodeProfile } from '../../src/core/profile-codec.js'
import { emptyProfile } from '../../src/core/prototypes.js'
import { beaconTopic } from '../../src/net/beacons.js'
import { createPpaiNode, type PpaiNode, type PpaiNodeInit } from '../../src/net/node.js'
import { signProfileRecord } from '../../src/net/records.js'
import type { DecisionRecord } from '../../src/net/service.js'
import { until } from '../support/until.js'

// Owners' sample tasks per topic: a node seeded with outcome 1 on a topic is its expert.
const TOPICS = {
  astronomy: ['How far is the Moon from the Earth?', 'What is a neutron star made of?', 'Why do planets orbit the Sun in ellipses?', 'What is the redshift of a distant galaxy?', 'How hot is the surface of the Sun?'],
  law: ['What is the statute of limitations for a contract claim?', 'Can a tenant withhold rent for repairs?', 'What makes a will legally valid?', 'What is the difference between a felony and a misdemeanor?', 'Who owns the copyright of a work made for hire?'],
  cooking: ['How long should I boil an egg for a soft yolk?', 'What temperature should I roast a chicken at?', 'How do I make a sourdough starter?', 'Why does bread dough need to rest?', 'How do I caramelise onions properly?']
}
const seed = (topic: keyof typeof TOPICS, outcome: number): Array<{ question: string, outcome: number }> => TOPICS[topic].map(question => ({ question, outcome }))

/** A backend that takes `delayMs` per answer and honours cancellation. */
function slowBackend (label: string, delayMs: number): AgentBackend {
  return createInstantBackend({ label, delayMs })
}

/**
 * A policy that tries `first` before the other candidates (best predicted first), so a test can make a given peer
 * the first choice whatever the scores; the fallback path under test is the node's own.
 */
function firstChoice (first: string): RoutingPolicy {
  return {
    name: 'greedy',
    decide (ctx: DecisionContext) {
      const others = ctx.candidates.filter(c => c.id !== first).sort((a, b) => b.success.mean - a.success.mean).map(c => c.id)
      const action = ctx.candidates.some(c => c.id === first) ? first : 'local'
      return { policy: 'greedy', action, fallbacks: action === first ? others : [], explanation: [], reason: `test: ${first} first` }
    }
  }
}

describe('PPAI nodes on 127.0.0.1', () => {
  const nodes: PpaiNode[] = []
  let asker: PpaiNode
  let astro: PpaiNode
  let lawyer: PpaiNode
  let cook: PpaiNode
  let lawyerKey: Awaited<ReturnType<typeof generateKeyPair>>

  beforeAll(async () => {
    const common: Partial<PpaiNodeInit> = { network: 'node-test', mdns: false, host: '127.0.0.1', beaconIntervalMs: 300, recordTtlMs: 120_000, logLevel: 'silent', policy: 'greedy', initialServiceMs: 50 }
    astro = await createPpaiNode({ ...common, name: 'astro', backend: createInstantBackend({ label: 'astro' }), seed: seed('astronomy', 1) } as PpaiNodeInit)
    nodes.push(astro)
    const bootstrap = astro.multiaddrs()
    // The lawyer's owner keeps it busy (below); the cook answers slowly, so it can be killed mid-answer.
    lawyerKey = await generateKeyPair('Ed25519')
    ;[asker, lawyer, cook] = await Promise.all([
      createPpaiNode({ ...common, name: 'asker', bootstrap, backend: createInstantBackend({ label: 'asker' }), seed: [...seed('astronomy', 0), ...seed('law', 0), ...seed('cooking', 0)] } as PpaiNodeInit),
      createPpaiNode({ ...common, name: 'lawyer', privateKey: lawyerKey, bootstrap, backend: slowBackend('lawyer', 600), seed: seed('law', 1), initialServiceMs: 600 } as PpaiNodeInit),
      createPpaiNode({ ...common, name: 'cook', bootstrap, backend: slowBackend('cook', 3000), seed: seed('cooking', 1), initialServiceMs: 100 } as PpaiNodeInit)
    ])
    nodes.push(asker, lawyer, cook)
    await until(() => astro.libp2p.getPeers().length >= 3, 10_000, 'bootstrap connections')
    await new Promise(resolve => setTimeout(resolve, 500))
    // Publish once every peer is there (the nodes also republish on their own, every recordTtlMs / 2).
    await Promise.all(nodes.map(async n => { await n.publishProfile(); await n.announced() }))
  })

  afterAll(async () => {
    await Promise.all(nodes.map(async n => await n.stop().catch(() => {})))
  })

  it('delegates a question to the expert and explains the choice', async () => {
    const decisions: DecisionRecord[] = []
    asker.events.addEventListener('decision', e => decisions.push((e as CustomEvent<DecisionRecord>).detail))
    const res = await asker.ask('What is the distance from the Earth to the Moon in kilometres?', { deadlineMs: 10_000 })
    expect(res.servedBy).toBe(astro.peerId)
    expect(res.answer).toContain('[astro]')
    expect(res.decision?.action).toBe(astro.peerId)
    expect(res.attempts).toEqual([expect.objectContaining({ action: astro.peerId, status: 'ok' })])
    expect(decisions.at(-1)?.outcome?.servedBy).toBe(astro.peerId)
    // Candidates are the peers near the query in the bucket code (and gossip), never the asker itself.
    const candidates = decisions.at(-1)?.candidates.map(c => c.id) ?? []
    expect(candidates).toContain(astro.peerId)
    expect(candidates).not.toContain(asker.peerId)
    expect(asker.decisions(1)[0].id).toBe(res.id)
  })

  it('routes with the ppai policy: the equilibrium favours the idle expert, the action is sampled from it and explained', async () => {
    asker.setPolicy('ppai')
    try {
      const res = await asker.ask('How hot is the core of a neutron star?', { deadlineMs: 10_000 })
      const d = res.decision
      expect(d?.policy).toBe('ppai')
      const total = d?.explanation.reduce((sum, e) => sum + e.probability, 0) ?? 0
      expect(total).toBeCloseTo(1, 6)
      // The asker is poor at astronomy (seeded with failures): the equilibrium hardly ever keeps the query local.
      expect(d?.explanation.find(e => e.action === 'local')?.probability ?? 1).toBeLessThan(0.05)
      // The idle astronomy expert is the clear best: the equilibrium puts the most weight on it.
      const best = [...(d?.explanation ?? [])].sort((x, y) => y.probability - x.probability)[0]
      expect(best?.action).toBe(astro.peerId)
      expect(res.attempts[0].action).toBe(d?.action)
      expect(res.answer.length).toBeGreaterThan(0)
    } finally {
      asker.setPolicy('greedy')
    }
  })

  it('tells a newcomer the existing profiles by gossip, without it asking', async () => {
    const late = await createPpaiNode({ network: 'node-test', mdns: false, logLevel: 'silent', name: 'late', bootstrap: astro.multiaddrs(), backend: createInstantBackend({ label: 'late' }) })
    nodes.push(late)
    await until(() => late.peers().some(p => p.peerId === astro.peerId && p.profileVersion != null && p.prototypes.length > 0), 4000, 'astro\'s profile at the newcomer')
  })

  it('honours model local and peer:<id>', async () => {
    const local = await asker.ask('What is a neutron star made of?', { model: 'local' })
    expect(local.servedBy).toBe('local')
    expect(local.decision).toBeUndefined()
    const forced = await asker.ask('How do I caramelise onions?', { model: `peer:${astro.peerId}` })
    expect(forced.servedBy).toBe(astro.peerId)
  })

  it('gossips load beacons that reach the other nodes', async () => {
    const got: LoadBeacon[] = []
    const listener = (e: Event): void => { got.push((e as CustomEvent<LoadBeacon>).detail) }
    asker.events.addEventListener('beacon', listener)
    await until(() => new Set(got.map(b => b.peerId)).size >= 3, 5000, 'beacons from all three peers')
    asker.events.removeEventListener('beacon', listener)
    expect(asker.peers().find(p => p.peerId === astro.peerId)?.lastBeacon?.serviceMs).toBeGreaterThanOrEqual(0)
  })

  it('drops forged gossip and counts each by its reason', async () => {
    const before = asker.rejections()
    const pubsub = lawyer.libp2p.services.pubsub
    const embedder = createHashEmbedder()
    const profileBytes = encodeProfile(emptyProfile(embedder.id, embedder.dim))
    const now = Date.now()
    // A beacon that speaks for another peer.
    await pubsub.publish(beaconTopic('node-test'), new TextEncoder().encode(JSON.stringify({ peerId: astro.peerId, backlog: 0, serviceMs: 1, arrivalPerSec: 0, sentAt: now })))
    // A record signed by someone else's key, sent by the lawyer.
    const stranger = await generateKeyPair('Ed25519')
    await pubsub.publish('/ppai/node-test/profiles/1', await signProfileRecord(stranger, { name: 'x', network: 'node-test', embedderId: embedder.id, version: 1, issuedAt: now, expiresAt: now + 60_000, profileBytes }))
    // The lawyer's own record, but for another network.
    await pubsub.publish('/ppai/node-test/profiles/1', await signProfileRecord(lawyerKey, { name: 'lawyer', network: 'elsewhere', embedderId: embedder.id, version: 99, issuedAt: now, expiresAt: now + 60_000, profileBytes }))
    await until(() => {
      const r = asker.rejections()
      return r.beacons['wrong-peer'] > before.beacons['wrong-peer'] && r.records['wrong-peer'] > before.records['wrong-peer'] && r.records['other-network'] > before.records['other-network']
    }, 5000, 'the three rejections')
    expect(asker.peers().find(p => p.peerId === lawyer.peerId)?.profileVersion).not.toBe(99)
  })

  it('is refused by a busy expert and falls back to the next choice', async () => {
    // The lawyer's owner queues two of its own queries: its predicted owner wait exceeds the bound, remote queries are refused.
    const own = [1, 2, 3].map(async i => await lawyer.ask(`my own question ${i}`, { model: 'local' }))
    await new Promise(resolve => setTimeout(resolve, 50))
    asker.setPolicy(firstChoice(lawyer.peerId))
    const res = await asker.ask('Can a tenant withhold rent if the landlord refuses repairs?', { deadlineMs: 10_000 }).finally(() => asker.setPolicy('greedy'))
    expect(res.attempts[0], JSON.stringify(res.attempts)).toMatchObject({ action: lawyer.peerId, status: 'busy' })
    expect(res.servedBy).not.toBe(lawyer.peerId)
    expect(res.answer).not.toContain('[lawyer]')
    expect(lawyer.status().served.refused).toBeGreaterThanOrEqual(1)
    await Promise.all(own)
  })

  it('still answers before its deadline when the serving node dies in the middle of the query', async () => {
    const deadlineMs = 8000
    const t0 = Date.now()
    asker.setPolicy(firstChoice(cook.peerId))
    const pending = asker.ask('How long should I boil an egg for a runny yolk?', { deadlineMs }).finally(() => asker.setPolicy('greedy'))
    await until(() => cook.status().backlog > 0, 3000, 'the cook to start answering')
    // Killed, not stopped: no withdrawal, libp2p torn down under the open stream.
    await cook.libp2p.stop()
    const res = await pending
    expect(Date.now() - t0).toBeLessThan(deadlineMs)
    expect(res.attempts[0]).toMatchObject({ action: cook.peerId, status: 'error' })
    expect(res.servedBy).not.toBe(cook.peerId)
    expect(res.answer.length).toBeGreaterThan(0)
  })

  it('learns from feedback: observations of peers and its own profile for local answers', async () => {
    const res = await asker.ask('What is the redshift of a quasar?', { model: `peer:${astro.peerId}` })
    expect(asker.feedback(res.id, 1)).toBe(true)
    expect(asker.peers().find(p => p.peerId === astro.peerId)?.observedCount).toBeGreaterThanOrEqual(1)
    const local = await asker.ask('What is the redshift of a quasar?', { model: 'local' })
    const version = asker.profile().version
    expect(asker.feedback(local.id, 1)).toBe(true)
    expect(asker.profile().version).toBeGreaterThan(version)
    expect(asker.feedback('no-such-answer', 1)).toBe(false)
  })

  it('withdraws a stopping node: its record is re-issued to expire at once and gossiped, and others drop it', async () => {
    const leaver = await createPpaiNode({ network: 'node-test', mdns: false, logLevel: 'silent', name: 'leaver', bootstrap: astro.multiaddrs(), backend: createInstantBackend({ label: 'leaver' }), seed: seed('astronomy', 1), recordTtlMs: 120_000 })
    nodes.push(leaver)
    await until(() => asker.peers().some(p => p.peerId === leaver.peerId && p.profileVersion != null), 6000, 'the leaver\'s profile at the asker')
    await leaver.stop()
    // Without the withdrawal the record would be held for its 120 s lifetime.
    await until(() => !asker.peers().some(p => p.peerId === leaver.peerId && p.profileVersion != null), 5000, 'the asker to drop the leaver\'s profile')
  })

  it('keeps a question too long for one frame on its own agent', async () => {
    const long = 'Explain the orbit of the Moon in detail. '.repeat(500)
    const res = await asker.ask(long, { model: `peer:${astro.peerId}` }).catch(e => e)
    // Refused before any attempt, as the asker's mistake (the API answers 400): no peer could take it.
    expect((res as AskError).code).toBe('bad-request')
    expect((res as AskError).message).toMatch(/too large to send to a peer: the question does not fit in one frame/)
    expect((res as AskError).attempts).toEqual([])
    const routed = await asker.ask(long, { deadlineMs: 10_000 })
    expect(routed.servedBy).toBe('local')
  })

  it('gives a clear error, not a hang, when a forced peer cannot answer', async () => {
    const t0 = Date.now()
    const err = await asker.ask('anything', { model: `peer:${cook.peerId}`, deadlineMs: 3000 }).catch(e => e)
    expect(Date.now() - t0).toBeLessThan(3500)
    expect(err).toBeInstanceOf(AskError)
    expect((err as AskError).code).toBe('peer-failed')
  })
})
