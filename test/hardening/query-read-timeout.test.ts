import type { Stream } from '@libp2p/interface'
import * as lp from 'it-length-prefixed'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createInstantBackend } from '../../src/agent/instant.js'
import { QUERY_PROTOCOL } from '../../src/net/frames.js'
import type { PpaiLibp2p } from '../../src/net/libp2p.js'
import { createPpaiNode, type PpaiNode } from '../../src/net/node.js'
import { REQUEST_READ_TIMEOUT_MS, readFrame } from '../../src/net/query-protocol.js'
import { bareLibp2p, connectAndIdentify, until } from './support.js'

/** Timer slack tolerated on either side of the read timeout on a loaded machine, ms. */
const SLACK_MS = 4_000

describe('a query stream that stalls before its request is complete', () => {
  let victim: PpaiNode
  let staller: PpaiLibp2p

  beforeAll(async () => {
    victim = await createPpaiNode({ name: 'victim', network: 'stall-test', mdns: false, host: '127.0.0.1', logLevel: 'silent', backend: createInstantBackend({ label: 'victim' }) })
    staller = await bareLibp2p('stall-test')
    await connectAndIdentify(staller, victim.libp2p)
  })
  afterAll(async () => { await Promise.all([victim?.stop(), staller?.stop()]) })

  /** The victim's inbound query streams from the staller not yet closed. */
  const openQueryStreams = (): number => victim.libp2p.getConnections(staller.peerId)
    .flatMap(c => c.streams).filter(s => s.protocol === QUERY_PROTOCOL && s.status === 'open').length

  it('is answered frame-read-timeout after the read timeout, counted, and closed by the node', async () => {
    const full = lp.encode.single(new TextEncoder().encode(JSON.stringify({ type: 'query', id: 'stalled', question: 'What is the capital of France?', deadlineMs: 5_000 }))).subarray()
    const before = victim.rejections().frames
    const streams: Stream[] = await Promise.all([0, 1].map(async () => await staller.dialProtocol(victim.libp2p.peerId, QUERY_PROTOCOL, { signal: AbortSignal.timeout(5_000) })))
    const t0 = Date.now()
    // One stream sends half a frame (its prefix promises more), the other nothing at all; neither closes its side.
    streams[0].send(full.subarray(0, Math.floor(full.length / 2)))
    const replies = await Promise.all(streams.map(async s => {
      const frame = await readFrame(s)
      return { elapsedMs: Date.now() - t0, reply: JSON.parse(new TextDecoder().decode(frame)) as { status: string, code?: string } }
    }))
    const after = victim.rejections().frames
    console.log(`read timeout: replies after ${replies.map(r => r.elapsedMs).join(' and ')} ms (timeout ${REQUEST_READ_TIMEOUT_MS} ms); counters ${JSON.stringify(after)}`)

    for (const { elapsedMs, reply } of replies) {
      expect(reply).toMatchObject({ status: 'error', code: 'frame-read-timeout' })
      // Not before the timeout (less the stream set-up, which the node counts from and the staller does not).
      expect(elapsedMs).toBeGreaterThanOrEqual(REQUEST_READ_TIMEOUT_MS - 1_000)
      expect(elapsedMs).toBeLessThan(REQUEST_READ_TIMEOUT_MS + SLACK_MS)
    }
    // Counted once each under its own reason, and under no other.
    for (const [reason, n] of Object.entries(after)) {
      expect(n - before[reason as keyof typeof before], reason).toBe(reason === 'read-timeout' ? 2 : 0)
    }
    // The node has closed its end both ways: the staller reads the end of the stream, and whatever it sends now is dropped
    // unread (a refused stream does not buffer up to 4 MB for a peer that keeps writing).
    for (const s of streams) expect(s.remoteWriteStatus).toBe('closed')
    const nodeSide = victim.libp2p.getConnections(staller.peerId).flatMap(c => c.streams).filter(s => s.protocol === QUERY_PROTOCOL)
    expect(nodeSide.map(s => [s.writeStatus, s.readStatus])).toEqual([['closed', 'closed'], ['closed', 'closed']])
    // Once the staller lets go too, no query stream is left on the node.
    await Promise.all(streams.map(async s => { await s.close() }))
    await until(() => openQueryStreams() === 0, 5_000, 'the stalled streams to be gone from the node')
  }, 30_000)
})
