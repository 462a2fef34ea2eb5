import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createInstantBackend } from '../../src/agent/instant.js'
import { seededRng } from '../../src/core/rng.js'
import type { PpaiLibp2p } from '../../src/net/libp2p.js'
import { createPpaiNode, type PpaiNode } from '../../src/net/node.js'
import { sendQuery } from '../../src/net/query-protocol.js'
import { FUZZ_KINDS, badFrame, bareLibp2p, boundedPool, connectAndIdentify, heapAfterGc, sendRaw, type FuzzKind } from './support.js'

/** Bad frames sent; the issue asks for at least 10,000. */
const FRAMES = 10_000
/** Streams in flight at once from the fuzzer. */
const PARALLEL = 32
/** The fuzzing loop stops here whatever happens, ms. */
const BUDGET_MS = 75_000
/** Heap growth tolerated over the whole run, bytes: a leak of even 5 KB per frame would exceed it. */
const HEAP_BOUND = 48 * 1024 * 1024

describe('the query protocol under 10,000 bad frames from a real peer', () => {
  let victim: PpaiNode
  let fuzzer: PpaiLibp2p

  beforeAll(async () => {
    // Per-peer limits raised for this test: it is about frame validation, and every frame must reach it.
    victim = await createPpaiNode({ name: 'victim', network: 'fuzz-test', mdns: false, host: '127.0.0.1', logLevel: 'silent', backend: createInstantBackend({ label: 'victim' }), peerLimits: { maxStreams: 1000, requestsPerSec: 1e6, requestBurst: 1e6, bytesPerSec: 1e12, byteBurst: 1e12 } })
    fuzzer = await bareLibp2p('fuzz-test')
    await connectAndIdentify(fuzzer, victim.libp2p)
  })
  afterAll(async () => { await Promise.all([victim?.stop(), fuzzer?.stop()]) })

  it('rejects every frame with a counted reason, keeps its heap bounded and still answers a good query', async () => {
    const rng = seededRng('query-fuzz')
    const kinds: FuzzKind[] = Array.from({ length: FRAMES }, (_, i) => FUZZ_KINDS[i % FUZZ_KINDS.length])
    const frames = kinds.map(k => badFrame(k, rng))
    const seen: Record<string, number> = {}
    const byKind = new Map<FuzzKind, Set<string>>()
    const before = victim.rejections().frames
    const heapBefore = heapAfterGc()
    const t0 = Date.now()
    const sent = await boundedPool(FRAMES, PARALLEL, t0 + BUDGET_MS, async i => {
      const code = await sendRaw(fuzzer, victim.libp2p.peerId, frames[i])
      seen[code] = (seen[code] ?? 0) + 1
      const set = byKind.get(kinds[i]) ?? new Set<string>()
      set.add(code)
      byKind.set(kinds[i], set)
    })
    const elapsedMs = Date.now() - t0
    const heapAfter = heapAfterGc()
    const after = victim.rejections().frames
    console.log(`query fuzz: ${sent} frames in ${elapsedMs} ms; replies ${JSON.stringify(seen)}; node counters ${JSON.stringify(after)}; heap ${((heapAfter - heapBefore) / 1e6).toFixed(1)} MB growth`)

    expect(sent).toBe(FRAMES)
    // Every frame got a reply naming its rejection; none got through as a query.
    expect(Object.keys(seen).every(code => code.startsWith('frame-'))).toBe(true)
    // The node's counters add up, reason by reason, to what the fuzzer was told.
    for (const [reason, n] of Object.entries(after)) {
      expect(n - before[reason as keyof typeof before], reason).toBe(seen[`frame-${reason}`] ?? 0)
    }
    // Each kind is refused for its own reason.
    expect([...byKind.get('oversize-prefix') ?? []]).toEqual(['frame-oversize'])
    expect([...byKind.get('empty') ?? []]).toEqual(['frame-empty'])
    expect([...byKind.get('query-bad-field') ?? []]).toEqual(['frame-invalid'])
    expect([...byKind.get('query-extra-field') ?? []]).toEqual(['frame-invalid'])
    expect([...byKind.get('bad-utf8') ?? []]).toEqual(['frame-malformed'])
    expect([...byKind.get('random-bytes') ?? []]).toEqual(['frame-malformed'])
    expect(heapAfter - heapBefore).toBeLessThan(HEAP_BOUND)

    const good = await sendQuery(fuzzer, victim.libp2p.peerId, { id: 'after-fuzz', question: 'Still there?' }, { timeoutMs: 5_000 })
    expect(good.status).toBe('ok')
    expect(good.status === 'ok' ? good.answer : '').toContain('[victim]')
  }, 100_000)
})
