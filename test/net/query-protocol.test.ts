import { generateKeyPair } from '@libp2p/crypto/keys'
import * as lp from 'it-length-prefixed'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AgentBackend } from '../../src/agent/backend.js'
import { createHashEmbedder } from '../../src/core/embedder.js'
import { MAX_FRAME_BYTES, QUERY_PROTOCOL } from '../../src/net/frames.js'
import { createPpaiLibp2p, type PpaiLibp2p } from '../../src/net/libp2p.js'
import { QUERY_REJECT_REASONS, createQueryHandler, encodeResponse, readFrame, sendQuery } from '../../src/net/query-protocol.js'
import { QueryResponseSchema } from '../../src/net/frames.js'
import { RECORD_REJECT_REASONS } from '../../src/net/records.js'
import { RejectionCounter } from '../../src/net/rejections.js'
import { ServingQueue } from '../../src/net/serving-queue.js'

const embedder = createHashEmbedder()

/** A backend that takes `delayMs` and remembers which requests were cancelled. */
function slowBackend (delayMs: number): AgentBackend & { aborted: string[], started: string[] } {
  const aborted: string[] = []
  const started: string[] = []
  return {
    description: `slow test backend (${delayMs} ms)`,
    aborted,
    started,
    async answer ({ id, question, signal }) {
      started.push(id)
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(resolve, delayMs)
        signal?.addEventListener('abort', () => { clearTimeout(t); aborted.push(id); reject(new Error('aborted')) }, { once: true })
      })
      return { text: `answer to ${question}` }
    }
  }
}

describe('expert admission on a real node: a peer\'s query is lent the agent only where it is good', () => {
  let server: PpaiLibp2p
  let client: PpaiLibp2p
  const backend = slowBackend(10)
  const asked: string[] = []

  beforeAll(async () => {
    const common = { network: 'qp-expert-test', embedderId: embedder.id, mdns: false }
    ;[server, client] = await Promise.all([0, 1].map(async () => createPpaiLibp2p({ ...common, privateKey: await generateKeyPair('Ed25519'), recordRejections: new RejectionCounter(RECORD_REJECT_REASONS) })))
    // The agent predicts 0.9 on cooking questions and 0.6 elsewhere.
    const ownSuccess = async (question: string): Promise<number> => { asked.push(question); return question.includes('cook') ? 0.9 : 0.6 }
    await server.handle(QUERY_PROTOCOL, createQueryHandler({ queue: new ServingQueue({ initialServiceMs: 10 }), backend, rejections: new RejectionCounter(QUERY_REJECT_REASONS), ownSuccess }))
    await client.dial(server.getMultiaddrs()[0])
  })
  afterAll(async () => { await Promise.all([server?.stop(), client?.stop()]) })

  it('serves a question the agent is expert for and refuses one it is not, even idle, saying why', async () => {
    const good = await sendQuery(client, server.peerId, { id: 'e1', question: 'How long to cook rice?' }, { timeoutMs: 5000 })
    expect(good).toMatchObject({ status: 'ok', id: 'e1' })
    const weak = await sendQuery(client, server.peerId, { id: 'e2', question: 'What is a quasar?' }, { timeoutMs: 5000 })
    expect(weak).toMatchObject({ status: 'busy', id: 'e2', reason: 'not-expert', backlog: 0 })
    expect(asked).toEqual(['How long to cook rice?', 'What is a quasar?'])
    expect(backend.started).toEqual(['e1'])
  })
})

describe('/ppai/query/1.0.0 between two real nodes', () => {
  let server: PpaiLibp2p
  let client: PpaiLibp2p
  const backend = slowBackend(400)
  const queue = new ServingQueue({ initialServiceMs: 400 })
  const rejections = new RejectionCounter(QUERY_REJECT_REASONS)

  beforeAll(async () => {
    const common = { network: 'qp-test', embedderId: embedder.id, mdns: false }
    ;[server, client] = await Promise.all([0, 1].map(async () => createPpaiLibp2p({ ...common, privateKey: await generateKeyPair('Ed25519'), recordRejections: new RejectionCounter(RECORD_REJECT_REASONS) })))
    // maxRemoteQueued 1: a second remote query while one is queued or in service is refused.
    await server.handle(QUERY_PROTOCOL, createQueryHandler({ queue, backend, rejections, admission: { maxRemoteQueued: 1, ownerWaitBoundMs: 10_000 } }))
    await client.dial(server.getMultiaddrs()[0])
  })
  afterAll(async () => { await Promise.all([server?.stop(), client?.stop()]) })

  it('answers a query with the load it is under', async () => {
    const res = await sendQuery(client, server.peerId, { id: 'q1', question: 'What is 2+2?' }, { timeoutMs: 5000 })
    expect(res).toMatchObject({ status: 'ok', id: 'q1', answer: 'answer to What is 2+2?' })
    if (res.status === 'ok') expect(res.workMs).toBeGreaterThanOrEqual(350)
  })

  it('refuses fast with its backlog when the remote queue is full', async () => {
    const first = sendQuery(client, server.peerId, { id: 'q2', question: 'first' }, { timeoutMs: 5000 })
    await new Promise(resolve => setTimeout(resolve, 50))
    const t0 = Date.now()
    const second = await sendQuery(client, server.peerId, { id: 'q3', question: 'second' }, { timeoutMs: 5000 })
    expect(second).toMatchObject({ status: 'busy', id: 'q3', backlog: 1, reason: 'remote-queue-full' })
    expect(Date.now() - t0).toBeLessThan(200)
    expect((await first).status).toBe('ok')
  })

  it('cancels the backend when the asker gives up', async () => {
    const controller = new AbortController()
    const pending = sendQuery(client, server.peerId, { id: 'q4', question: 'slow' }, { timeoutMs: 5000, signal: controller.signal })
    await new Promise(resolve => setTimeout(resolve, 100))
    expect(backend.started).toContain('q4')
    controller.abort()
    await expect(pending).rejects.toMatchObject({ kind: 'aborted' })
    const end = Date.now() + 2000
    while (!backend.aborted.includes('q4') && Date.now() < end) await new Promise(resolve => setTimeout(resolve, 20))
    expect(backend.aborted).toContain('q4')
  })

  it('stops working when the request\'s deadline passes and says so', async () => {
    const stream = await client.dialProtocol(server.peerId, QUERY_PROTOCOL)
    stream.send(lp.encode.single(new TextEncoder().encode(JSON.stringify({ type: 'query', id: 'q5', question: 'too slow', deadlineMs: 150 }))))
    const reply = JSON.parse(new TextDecoder().decode(await readFrame(stream)))
    expect(reply).toMatchObject({ status: 'error', id: 'q5', code: 'deadline' })
    expect(backend.aborted).toContain('q5')
  })

  it('rejects malformed, invalid and oversized frames with a named reason each', async () => {
    const before = rejections.snapshot()
    const raw = async (payload: Uint8Array, framed = true): Promise<unknown> => {
      const stream = await client.dialProtocol(server.peerId, QUERY_PROTOCOL)
      stream.send(framed ? lp.encode.single(payload) : payload)
      try {
        return JSON.parse(new TextDecoder().decode(await readFrame(stream)))
      } catch (err) {
        return { broken: (err as Error).message }
      }
    }
    expect(await raw(new TextEncoder().encode('{not json'))).toMatchObject({ status: 'error', code: 'frame-malformed' })
    expect(await raw(new TextEncoder().encode(JSON.stringify({ type: 'query', id: 'x', question: 'q' })))).toMatchObject({ status: 'error', code: 'frame-invalid' })
    // A length prefix announcing more than the cap is refused before the body is read.
    await raw(lp.encode.single(new Uint8Array(MAX_FRAME_BYTES + 10)).subarray(0, 16), false)
    const after = rejections.snapshot()
    expect(after.malformed - before.malformed).toBe(1)
    expect(after.invalid - before.invalid).toBe(1)
    expect(after.oversize - before.oversize).toBe(1)
  })
})

describe('response frames', () => {
  it('cut an answer too long for one frame, whatever its script and escapes, to a valid frame under the cap', () => {
    for (const unit of ['é', '"', '\n', '\u0001', '漢', 'a']) {
      const frame = encodeResponse({ type: 'response', id: 'x', status: 'ok', answer: unit.repeat(70_000), queuedMs: 0, workMs: 1, backlog: 0, serviceMs: 1 })
      expect(frame.length).toBeLessThanOrEqual(MAX_FRAME_BYTES)
      const parsed = QueryResponseSchema.parse(JSON.parse(new TextDecoder().decode(frame)))
      expect(parsed.status === 'ok' && parsed.answer.length > 1000).toBe(true)
    }
  })
})
