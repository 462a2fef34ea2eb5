import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterEach, describe, expect, it } from 'vitest'
import type { AgentBackend } from '../../src/agent/backend.js'
import { createInstantBackend } from '../../src/agent/instant.js'
import { createHashEmbedder } from '../../src/core/embedder.js'
import { AskError } from '../../src/net/ask-error.js'
import * as lp from 'it-length-prefixed'
import { MAX_FRAME_BYTES, QUERY_PROTOCOL, QUERY_SESSION_PROTOCOL, QUERY_STREAMING_PROTOCOL } from '../../src/net/frames.js'
import { createPpaiLibp2p, type PpaiLibp2p } from '../../src/net/libp2p.js'
import { createPpaiNode, type PpaiNode } from '../../src/net/node.js'
import { QUERY_REJECT_REASONS, createQueryHandler, createQuerySessionHandler, parseResponse, readFrame, sendQuery } from '../../src/net/query-protocol.js'
import { QuerySessions } from '../../src/net/query-sessions.js'
import { RECORD_REJECT_REASONS } from '../../src/net/records.js'
import { RejectionCounter } from '../../src/net/rejections.js'
import { ServingQueue } from '../../src/net/serving-queue.js'
import { tokenBackend } from '../support/token-backend.js'
import { until } from '../support/until.js'

const nodes: PpaiNode[] = []
const raw: PpaiLibp2p[] = []
afterEach(async () => {
  await Promise.all(nodes.splice(0).map(async n => { await n.stop() }))
  await Promise.all(raw.splice(0).map(async n => { await n.stop() }))
})

/** A serving node with `backend` and an asking node connected to it, on 127.0.0.1. */
async function pairOfNodes (backend: AgentBackend, sessionsPerPeer = 4): Promise<{ server: PpaiNode, asker: PpaiNode }> {
  const common = { network: 'stream-test', mdns: false, logLevel: 'silent', host: '127.0.0.1', port: 0, sessionsPerPeer }
  const server = await createPpaiNode({ ...common, name: 'server', backend })
  nodes.push(server)
  const asker = await createPpaiNode({ ...common, name: 'asker', bootstrap: server.multiaddrs(), backend: createInstantBackend({ label: 'asker' }) })
  nodes.push(asker)
  await until(() => asker.libp2p.getConnections(server.libp2p.peerId).length > 0, 5000, 'the asker to connect')
  return { server, asker }
}

/** Asks with a token callback; returns the pieces with their arrival times (ms after the ask) and the result. */
async function askStreaming (asker: PpaiNode, model: `peer:${string}`, signal?: AbortSignal): Promise<{ pieces: Array<{ text: string, at: number }>, totalMs: number, answer: string, servedBy: string }> {
  const pieces: Array<{ text: string, at: number }> = []
  const t0 = performance.now()
  const r = await asker.ask('stream me an answer', { model, deadlineMs: 10_000, signal, onToken: text => pieces.push({ text, at: performance.now() - t0 }) })
  return { pieces, totalMs: performance.now() - t0, answer: r.answer, servedBy: r.servedBy }
}

describe('streamed answers across the query protocol (1.1)', () => {
  for (const sessionsPerPeer of [4, 0]) {
    it(`delivers a peer's pieces as it writes them, ${sessionsPerPeer > 0 ? 'on a query session' : 'one-shot (sessions off)'}`, async () => {
      const backend = tokenBackend({ label: 'server', tokens: 10, everyMs: 60 })
      const { server, asker } = await pairOfNodes(backend, sessionsPerPeer)
      const model = `peer:${server.peerId}` as const
      const streamed = await askStreaming(asker, model)
      expect(streamed.servedBy).toBe(server.peerId)
      expect(streamed.pieces.map(p => p.text).join('')).toBe(backend.answerText)
      expect(streamed.answer).toBe(backend.answerText)
      // Pieces came as they were written (10 × 60 ms): the first after ~60 ms, the last after ~600.
      expect(streamed.pieces.length).toBeGreaterThanOrEqual(5)
      expect(streamed.pieces[0].at).toBeLessThan(streamed.totalMs / 2)
      expect(streamed.totalMs).toBeGreaterThanOrEqual(550)

      // The same question unstreamed: the whole answer at once, and the backend was not asked to stream.
      const plain = await asker.ask('stream me an answer', { model, deadlineMs: 10_000 })
      expect(plain.answer).toBe(backend.answerText)
      expect(backend.asked.map(a => a.streamed)).toEqual([true, false])
    })
  }

  it('cancels the peer\'s work when the asker goes away mid-stream', async () => {
    const backend = tokenBackend({ label: 'server', tokens: 100, everyMs: 50 })
    const { server, asker } = await pairOfNodes(backend)
    const gone = new AbortController()
    const pieces: string[] = []
    const asking = asker.ask('a long answer', { model: `peer:${server.peerId}`, deadlineMs: 20_000, signal: gone.signal, onToken: t => { pieces.push(t); if (pieces.length === 3) gone.abort() } })
    await expect(asking).rejects.toBeInstanceOf(AskError)
    await until(() => backend.aborted.length === 1, 3000, 'the peer to cancel its backend')
    expect(pieces.length).toBeLessThan(10)
  })

  it('ends the query with `interrupted` when the peer fails mid-stream, without a fallback', async () => {
    const backend = tokenBackend({ label: 'server', tokens: 10, everyMs: 30, failAfter: 3 })
    const { server, asker } = await pairOfNodes(backend)
    const pieces: string[] = []
    const started = Date.now()
    const err = await asker.ask('a failing answer', { model: `peer:${server.peerId}`, deadlineMs: 10_000, onToken: t => pieces.push(t) }).then(() => undefined, (e: unknown) => e)
    expect(err).toBeInstanceOf(AskError)
    expect((err as AskError).code).toBe('interrupted')
    expect((err as AskError).message).toMatch(/broke off its streamed answer: backend-failed: model server broke after 3 tokens/)
    expect(pieces).toEqual(['[server] t0', ' t1', ' t2'])
    expect(Date.now() - started).toBeLessThan(3000)
  })

  it('sends at most the answer\'s byte cap in chunks', async () => {
    // 100 pieces of 1 KB: more than one frame's worth.
    const piece = 'x'.repeat(1023) + ' '
    const big: AgentBackend = {
      description: 'big',
      async answer ({ onToken }) {
        for (let i = 0; i < 100; i++) onToken?.(piece)
        return { text: piece.repeat(100) }
      }
    }
    const { server, asker } = await pairOfNodes(big)
    const streamed = await askStreaming(asker, `peer:${server.peerId}`)
    const bytes = streamed.pieces.reduce((n, p) => n + p.text.length, 0)
    expect(bytes).toBeLessThanOrEqual(MAX_FRAME_BYTES)
    expect(bytes).toBeGreaterThan(MAX_FRAME_BYTES / 2)
    expect(streamed.answer.length).toBeLessThanOrEqual(MAX_FRAME_BYTES)
  })
})

describe('wire compatibility with a 1.0 peer', () => {
  it('gets the whole answer, without chunks, from a peer that speaks only 1.0', async () => {
    const embedder = createHashEmbedder()
    const [server, client] = await Promise.all([0, 1].map(async () => await createPpaiLibp2p({ network: 'stream-compat', embedderId: embedder.id, mdns: false, privateKey: await generateKeyPair('Ed25519'), recordRejections: new RejectionCounter(RECORD_REJECT_REASONS) })))
    raw.push(server, client)
    const backend = tokenBackend({ label: 'old', tokens: 4, everyMs: 10 })
    const init = { queue: new ServingQueue({ initialServiceMs: 1 }), backend, rejections: new RejectionCounter(QUERY_REJECT_REASONS) }
    // The handlers of a 1.0 node: no `streaming`, only the 1.0 protocol ids.
    await server.handle(QUERY_PROTOCOL, createQueryHandler(init))
    await server.handle(QUERY_SESSION_PROTOCOL, createQuerySessionHandler(init))
    await client.dial(server.getMultiaddrs()[0])

    const chunks: string[] = []
    const sessions = new QuerySessions(client)
    const viaSession = await sessions.query(server.peerId, { id: 's1', question: 'q' }, { timeoutMs: 5000, onChunk: t => chunks.push(t) })
    sessions.close()
    const oneShot = await sendQuery(client, server.peerId, { id: 'o1', question: 'q' }, { timeoutMs: 5000, onChunk: t => chunks.push(t) })
    expect(viaSession).toMatchObject({ status: 'ok', answer: backend.answerText })
    expect(oneShot).toMatchObject({ status: 'ok', answer: backend.answerText })
    expect(chunks).toEqual([])
    expect(backend.asked.map(a => a.streamed)).toEqual([false, false])
  })

  it('takes `stream` only on 1.1, and only as a boolean', async () => {
    const { server, asker } = await pairOfNodes(tokenBackend({ label: 'server', tokens: 2, everyMs: 1 }))
    const send = async (protocol: string, request: Record<string, unknown>): Promise<unknown> => {
      const stream = await asker.libp2p.dialProtocol(server.libp2p.peerId, protocol)
      stream.send(lp.encode.single(new TextEncoder().encode(JSON.stringify({ type: 'query', id: 'v', question: 'q', deadlineMs: 5000, ...request }))))
      return parseResponse(await readFrame(stream))
    }
    // 1.0 is strict: a 1.0 node would refuse the field, which is why streaming is a new version.
    expect(await send(QUERY_PROTOCOL, { stream: true })).toMatchObject({ status: 'error', code: 'frame-invalid' })
    expect(await send(QUERY_STREAMING_PROTOCOL, { stream: 'yes' })).toMatchObject({ status: 'error', code: 'frame-invalid' })
    expect(await send(QUERY_PROTOCOL, {})).toMatchObject({ status: 'ok', answer: '[server] t0 t1' })
    expect(await send(QUERY_STREAMING_PROTOCOL, { stream: false })).toMatchObject({ status: 'ok', answer: '[server] t0 t1' })
  })
})
