import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createInstantBackend } from '../../src/agent/instant.js'
import type { PpaiLibp2p } from '../../src/net/libp2p.js'
import { createPpaiNode, type PpaiNode } from '../../src/net/node.js'
import { DEFAULT_PEER_LIMITS } from '../../src/net/peer-limits.js'
import { sendQuery } from '../../src/net/query-protocol.js'
import * as lp from 'it-length-prefixed'
import { bareLibp2p, boundedPool, connectAndIdentify, sendRaw } from './support.js'

/** The flood lasts until the honest peer has asked this many queries... */
const HONEST_QUERIES = 10
/** ...or this long at most, ms. */
const FLOOD_MAX_MS = 20_000
/** Streams the flooder keeps in flight. */
const FLOOD_PARALLEL = 32
/** The honest peer's pace: one query every this many ms. */
const HONEST_EVERY_MS = 100

function percentile (xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]
}

describe('per-peer limits on the query protocol', () => {
  let victim: PpaiNode
  let flooder: PpaiLibp2p
  let bigSender: PpaiLibp2p
  let honest: PpaiLibp2p

  beforeAll(async () => {
    victim = await createPpaiNode({ name: 'victim', network: 'flood-test', mdns: false, host: '127.0.0.1', logLevel: 'silent', backend: createInstantBackend({ label: 'victim' }) })
    ;[flooder, bigSender, honest] = await Promise.all([0, 1, 2].map(async () => await bareLibp2p('flood-test')))
    for (const p of [flooder, bigSender, honest]) await connectAndIdentify(p, victim.libp2p)
  })
  afterAll(async () => { await Promise.all([victim?.stop(), flooder?.stop(), bigSender?.stop(), honest?.stop()]) })

  it('throttles a peer flooding queries while another peer\'s queries still succeed', async () => {
    const before = victim.rejections().limits
    const outcomes: Record<string, number> = {}
    const honestLatencies: number[] = []
    const honestStatuses: Record<string, number> = {}
    const t0 = Date.now()
    let honestDoneAt = Number.POSITIVE_INFINITY
    const floodDone = boundedPool(1_000_000, FLOOD_PARALLEL, t0 + FLOOD_MAX_MS, async i => {
      if (Date.now() >= honestDoneAt) return
      const res = await sendQuery(flooder, victim.libp2p.peerId, { id: `flood-${i}`, question: `flood ${i}` }, { timeoutMs: 5_000 }).catch(err => ({ status: `failed ${(err as Error).name}` }))
      const key = res.status === 'error' && 'code' in res ? res.code : res.status
      outcomes[key] = (outcomes[key] ?? 0) + 1
    })
    const honestDone = (async () => {
      for (let i = 0; Date.now() < t0 + FLOOD_MAX_MS && i < HONEST_QUERIES; i++) {
        const s = Date.now()
        const res = await sendQuery(honest, victim.libp2p.peerId, { id: `honest-${i}`, question: `honest question ${i}` }, { timeoutMs: 5_000 }).catch(err => ({ status: `failed ${(err as Error).name}` }))
        honestStatuses[res.status] = (honestStatuses[res.status] ?? 0) + 1
        honestLatencies.push(Date.now() - s)
        await new Promise(resolve => setTimeout(resolve, HONEST_EVERY_MS))
      }
      honestDoneAt = Date.now()
    })()
    await Promise.all([floodDone, honestDone])
    const elapsedS = (Date.now() - t0) / 1000
    const limits = victim.rejections().limits
    console.log(`flood: ${elapsedS.toFixed(1)} s; flooder outcomes ${JSON.stringify(outcomes)}; honest ${JSON.stringify(honestStatuses)}, p50 ${percentile(honestLatencies, 0.5)} ms, p95 ${percentile(honestLatencies, 0.95)} ms; limit refusals ${JSON.stringify(limits)}`)

    // The flooder got no more answers than its burst plus its sustained rate allow.
    const allowed = DEFAULT_PEER_LIMITS.requestBurst + DEFAULT_PEER_LIMITS.requestsPerSec * (elapsedS + 1)
    expect(outcomes.ok ?? 0).toBeLessThanOrEqual(allowed)
    expect((outcomes['throttled-rate'] ?? 0) + (outcomes['throttled-streams'] ?? 0)).toBeGreaterThan(0)
    // Every refusal the flooder saw is counted at the node.
    expect(limits.rate - before.rate + limits.streams - before.streams).toBe((outcomes['throttled-rate'] ?? 0) + (outcomes['throttled-streams'] ?? 0))
    // The honest peer was answered every time.
    expect(honestStatuses).toEqual({ ok: honestLatencies.length })
    expect(honestLatencies.length).toBe(HONEST_QUERIES)
  }, 30_000)

  it('refuses a peer over its byte budget, counted as bytes', async () => {
    const before = victim.rejections().limits.bytes
    // ~60 KB frames (under the frame cap, so each is read in full and charged): the byte budget runs out after ~17.
    const big = lp.encode.single(new TextEncoder().encode(JSON.stringify({ type: 'query', id: 'big', question: 'x'.repeat(60_000), deadlineMs: 1000 }))).subarray()
    const codes: Record<string, number> = {}
    for (let i = 0; i < 40; i++) {
      const code = await sendRaw(bigSender, victim.libp2p.peerId, big)
      codes[code] = (codes[code] ?? 0) + 1
    }
    console.log(`bytes: ${JSON.stringify(codes)}`)
    expect(codes['throttled-bytes'] ?? 0).toBeGreaterThan(0)
    expect(victim.rejections().limits.bytes - before).toBe(codes['throttled-bytes'])
    // The other peer is still served.
    const res = await sendQuery(honest, victim.libp2p.peerId, { id: 'after-bytes', question: 'still fine?' }, { timeoutMs: 5_000 })
    expect(res.status).toBe('ok')
  })
})
