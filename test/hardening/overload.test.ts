import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createInstantBackend } from '../../src/agent/instant.js'
import { createPpaiNode, type PpaiNode, type PpaiNodeInit } from '../../src/net/node.js'
import { sendQuery } from '../../src/net/query-protocol.js'
import { QueuePreemptedError, ServingQueue } from '../../src/net/serving-queue.js'
import type { PpaiLibp2p } from '../../src/net/libp2p.js'
import { bareLibp2p, connectAndIdentify, until } from './support.js'

/**
 * The popular node's service time per query, ms (an edge device, scaled down; long enough that the test measures
 * queueing, not the scheduling jitter of a busy 2-core machine).
 */
const SERVICE_MS = 250
/** The owner asks every this many ms: offered load 1/3 of the agent. */
const OWNER_EVERY_MS = 750
/** Owner queries per phase. */
const OWNER_QUERIES = 24
/** Remote offered load, as a multiple of the owner's. */
const OVERLOAD = 10
/** Peers sharing the remote load (each stays under its per-peer rate limit). */
const SENDERS = 4

const TOPIC = ['How far is the Moon from the Earth?', 'What is a neutron star made of?', 'Why do planets orbit the Sun in ellipses?', 'What is the redshift of a distant galaxy?', 'How hot is the surface of the Sun?']

function p95 (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil(0.95 * s.length) - 1)]
}

function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor((s.length - 1) / 2)]
}

describe('a popular node under ten times its owner\'s load', () => {
  let popular: PpaiNode
  let asker: PpaiNode
  let senders: PpaiLibp2p[]

  beforeAll(async () => {
    const common: Partial<PpaiNodeInit> = { network: 'overload-test', mdns: false, host: '127.0.0.1', logLevel: 'silent', beaconIntervalMs: 500, recordTtlMs: 120_000 }
    popular = await createPpaiNode({ ...common, name: 'popular', backend: createInstantBackend({ label: 'popular', delayMs: SERVICE_MS }), initialServiceMs: SERVICE_MS, seed: TOPIC.map(question => ({ question, outcome: 1 })) } as PpaiNodeInit)
    asker = await createPpaiNode({ ...common, name: 'asker', bootstrap: popular.multiaddrs(), backend: createInstantBackend({ label: 'asker', delayMs: SERVICE_MS }), initialServiceMs: SERVICE_MS, seed: TOPIC.map(question => ({ question, outcome: 0 })) } as PpaiNodeInit)
    senders = await Promise.all(Array.from({ length: SENDERS }, async () => await bareLibp2p('overload-test')))
    for (const s of senders) await connectAndIdentify(s, popular.libp2p)
    await until(() => asker.peers().some(p => p.peerId === popular.peerId && p.prototypes.length > 0), 10_000, 'the popular profile at the asker')
  })
  afterAll(async () => { await Promise.all([popular?.stop(), asker?.stop(), ...(senders ?? []).map(async s => await s.stop())]) })

  /** The owner's queries at a steady pace; their latencies. */
  async function ownerPhase (tag: string): Promise<number[]> {
    const latencies: number[] = []
    const pending: Array<Promise<void>> = []
    for (let i = 0; i < OWNER_QUERIES; i++) {
      pending.push((async () => {
        const t0 = Date.now()
        await popular.ask(`${tag} owner question ${i}`, { model: 'local', deadlineMs: 10_000 })
        latencies.push(Date.now() - t0)
      })())
      await new Promise(resolve => setTimeout(resolve, OWNER_EVERY_MS))
    }
    await Promise.all(pending)
    return latencies
  }

  it('keeps its owner\'s p95 within 1.5x of unloaded, refuses remote queries fast, and loses none', async () => {
    const unloaded = await ownerPhase('unloaded')

    // Remote load: OVERLOAD x the owner's offered load, spread over the senders.
    const remoteEveryMs = OWNER_EVERY_MS * SENDERS / OVERLOAD
    const remote = { ok: 0, busy: 0, error: 0, failed: 0, refusalMs: [] as number[], answerMs: [] as number[] }
    let loading = true
    const load = senders.map(async (s, k) => {
      const inFlight: Array<Promise<void>> = []
      for (let i = 0; loading && i < 10_000; i++) {
        inFlight.push((async () => {
          const t0 = Date.now()
          try {
            const res = await sendQuery(s, popular.libp2p.peerId, { id: `r${k}-${i}`, question: `remote question ${k}-${i}` }, { timeoutMs: 10_000 })
            remote[res.status]++
            if (res.status === 'busy') remote.refusalMs.push(Date.now() - t0)
            if (res.status === 'ok') remote.answerMs.push(Date.now() - t0)
          } catch {
            remote.failed++
          }
        })())
        await new Promise(resolve => setTimeout(resolve, remoteEveryMs))
      }
      await Promise.all(inFlight)
    })
    // Meanwhile a PPAI asker routes its own questions; when the popular node refuses, it falls back.
    const askerOutcomes: Array<{ servedBy: string, busy: number }> = []
    const asking = (async () => {
      for (let i = 0; loading && i < 40; i++) {
        const res = await asker.ask(`${TOPIC[i % TOPIC.length]} (${i})`, { deadlineMs: 10_000 })
        askerOutcomes.push({ servedBy: res.servedBy === popular.peerId ? 'popular' : res.servedBy, busy: res.attempts.filter(a => a.status === 'busy').length })
        await new Promise(resolve => setTimeout(resolve, 200))
      }
    })()
    const loaded = await ownerPhase('loaded')
    loading = false
    await Promise.all([...load, asking])

    const sent = remote.ok + remote.busy + remote.error + remote.failed
    const fellBack = askerOutcomes.filter(o => o.busy > 0 && o.servedBy !== 'popular').length
    console.log(`overload: owner p95 unloaded ${p95(unloaded)} ms, loaded ${p95(loaded)} ms (x${(p95(loaded) / p95(unloaded)).toFixed(2)}); remote ${sent} sent: ok ${remote.ok}, busy ${remote.busy} (p50 ${median(remote.refusalMs)} ms, p95 ${p95(remote.refusalMs)} ms; answers p50 ${median(remote.answerMs)} ms), error ${remote.error}, failed ${remote.failed}; asker ${askerOutcomes.length} queries, ${fellBack} fell back after a refusal`)

    expect(p95(loaded)).toBeLessThanOrEqual(1.5 * p95(unloaded))
    // Ten times the owner's load did arrive, and most of it was refused, fast.
    expect(sent).toBeGreaterThanOrEqual(OVERLOAD * OWNER_QUERIES * 0.8)
    expect(remote.busy).toBeGreaterThan(remote.ok)
    // A refusal costs the sender less than an answer would: it never waits for the agent.
    expect(median(remote.refusalMs)).toBeLessThan(median(remote.answerMs))
    // Nothing lost: every remote query got a reply, every asker query an answer.
    expect(remote.failed + remote.error).toBe(0)
    expect(askerOutcomes.length).toBeGreaterThan(0)
  }, 60_000)
})

describe('owner first in the serving queue', () => {
  it('stops a remote query in service when its owner asks, so the owner waits for no borrowed work', async () => {
    const queue = new ServingQueue({ initialServiceMs: 500 })
    const work = async (ms: number, signal: AbortSignal): Promise<string> => await new Promise((resolve, reject) => {
      const t = setTimeout(() => resolve('done'), ms)
      signal.addEventListener('abort', () => { clearTimeout(t); reject(new Error('aborted')) }, { once: true })
    })
    const remote = queue.submit('remote', async s => await work(500, s))
    const remoteOutcome = remote.then(() => 'answered', err => (err as Error).name)
    await new Promise(resolve => setTimeout(resolve, 50))
    const t0 = Date.now()
    const owner = await queue.submit('owner', async s => await work(20, s))
    const ownerMs = Date.now() - t0
    expect(owner.value).toBe('done')
    // Without preemption the owner would wait the remote's remaining ~450 ms.
    expect(ownerMs).toBeLessThan(200)
    expect(await remoteOutcome).toBe(new QueuePreemptedError('x').name)
  })

  it('lets a remote query finish when preemption is off', async () => {
    const queue = new ServingQueue({ initialServiceMs: 100, preemptRemote: false })
    const work = async (ms: number): Promise<string> => await new Promise(resolve => setTimeout(() => resolve('done'), ms))
    const remote = queue.submit('remote', async () => await work(150))
    await new Promise(resolve => setTimeout(resolve, 20))
    const t0 = Date.now()
    await queue.submit('owner', async () => await work(10))
    expect(Date.now() - t0).toBeGreaterThanOrEqual(100)
    expect((await remote).value).toBe('done')
  })
})
