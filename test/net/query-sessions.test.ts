import { generateKeyPair } from '@libp2p/crypto/keys'
import type { StreamHandler } from '@libp2p/interface'
import { afterEach, describe, expect, it } from 'vitest'
import type { AgentBackend } from '../../src/agent/backend.js'
import { createInstantBackend } from '../../src/agent/instant.js'
import { createHashEmbedder } from '../../src/core/embedder.js'
import { QUERY_PROTOCOL, QUERY_SESSION_PROTOCOL, QUERY_SESSION_STREAMING_PROTOCOL } from '../../src/net/frames.js'
import { createPpaiLibp2p, type PpaiLibp2p } from '../../src/net/libp2p.js'
import { createPpaiNode, type PpaiNode } from '../../src/net/node.js'
import { PeerLimiter, limitPerPeer } from '../../src/net/peer-limits.js'
import { QUERY_REJECT_REASONS, createQueryHandler, createQuerySessionHandler, type QuerySessionServerInit } from '../../src/net/query-protocol.js'
import { QuerySessions } from '../../src/net/query-sessions.js'
import { RECORD_REJECT_REASONS } from '../../src/net/records.js'
import { RejectionCounter } from '../../src/net/rejections.js'
import { ServingQueue } from '../../src/net/serving-queue.js'
import { until } from '../support/until.js'

const embedder = createHashEmbedder()

/** A backend that takes `delayMs` and remembers which requests were cancelled. */
function backendTaking (delayMs: number): AgentBackend & { aborted: string[] } {
  const aborted: string[] = []
  return {
    description: `test backend (${delayMs} ms)`,
    aborted,
    async answer ({ id, question, signal }) {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(resolve, delayMs)
        signal?.addEventListener('abort', () => { clearTimeout(t); aborted.push(id); reject(new Error('aborted')) }, { once: true })
      })
      return { text: `answer to ${question}` }
    }
  }
}

/** Counts the streams a handler is given. */
function counting (handler: StreamHandler, counter: { n: number }): StreamHandler {
  return async (stream, connection) => {
    counter.n++
    await handler(stream, connection)
  }
}

interface Pair { server: PpaiLibp2p, client: PpaiLibp2p, sessionsOpened: { n: number }, oneShots: { n: number }, backend: ReturnType<typeof backendTaking> }

const started: PpaiLibp2p[] = []

/** Two real libp2p nodes on 127.0.0.1; the server speaks the session protocol unless told otherwise. */
async function pair (opts: { delayMs?: number, sessions?: boolean, limiter?: PeerLimiter, server?: Partial<QuerySessionServerInit> } = {}): Promise<Pair> {
  const common = { network: 'qs-test', embedderId: embedder.id, mdns: false }
  const [server, client] = await Promise.all([0, 1].map(async () => await createPpaiLibp2p({ ...common, privateKey: await generateKeyPair('Ed25519'), recordRejections: new RejectionCounter(RECORD_REJECT_REASONS) })))
  started.push(server, client)
  const backend = backendTaking(opts.delayMs ?? 0)
  const init = { queue: new ServingQueue({ initialServiceMs: 1 }), backend, rejections: new RejectionCounter(QUERY_REJECT_REASONS), admission: { maxRemoteQueued: 100, ownerWaitBoundMs: 60_000 }, ...opts.server }
  const sessionsOpened = { n: 0 }
  const oneShots = { n: 0 }
  const wrap = (h: StreamHandler): StreamHandler => opts.limiter == null ? h : limitPerPeer(h, opts.limiter)
  await server.handle(QUERY_PROTOCOL, counting(wrap(createQueryHandler(init)), oneShots), { maxInboundStreams: 64 })
  if (opts.sessions !== false) {
    const limiter = opts.limiter
    await server.handle(QUERY_SESSION_PROTOCOL, counting(wrap(createQuerySessionHandler({ ...init, chargeRequest: limiter == null ? undefined : peer => limiter.acquire(peer)() })), sessionsOpened), { maxInboundStreams: 64 })
  }
  await client.dial(server.getMultiaddrs()[0])
  return { server, client, sessionsOpened, oneShots, backend }
}

afterEach(async () => {
  await Promise.all(started.splice(0).map(async n => { await n.stop() }))
})

describe('query sessions between two real nodes', () => {
  it('carries many queries one after another on a single session stream', async () => {
    const { server, client, sessionsOpened, oneShots } = await pair()
    const sessions = new QuerySessions(client)
    const answers: string[] = []
    for (let i = 0; i < 20; i++) {
      const res = await sessions.query(server.peerId, { id: `q${i}`, question: `question ${i}` }, { timeoutMs: 5000 })
      if (res.status === 'ok') answers.push(res.answer)
    }
    sessions.close()
    expect(answers).toEqual(Array.from({ length: 20 }, (_, i) => `answer to question ${i}`))
    expect(sessionsOpened.n).toBe(1)
    expect(oneShots.n).toBe(0)
  })

  it('opens at most its per-peer number of sessions and sends the overflow one-shot', async () => {
    const { server, client, sessionsOpened, oneShots } = await pair({ delayMs: 100 })
    const sessions = new QuerySessions(client, { maxPerPeer: 2 })
    const results = await Promise.all(Array.from({ length: 6 }, async (_, i) => await sessions.query(server.peerId, { id: `c${i}`, question: `concurrent ${i}` }, { timeoutMs: 10_000 })))
    sessions.close()
    expect(results.map(r => r.status)).toEqual(Array(6).fill('ok'))
    expect(sessionsOpened.n).toBe(2)
    expect(oneShots.n).toBe(4)
  })

  it('charges every request of a session to the per-peer rate limit, not only the first', async () => {
    const limiter = new PeerLimiter({ requestBurst: 5, requestsPerSec: 0.01 })
    const { server, client, sessionsOpened } = await pair({ limiter })
    const sessions = new QuerySessions(client)
    const codes: string[] = []
    for (let i = 0; i < 10; i++) {
      const res = await sessions.query(server.peerId, { id: `r${i}`, question: `rate ${i}` }, { timeoutMs: 5000 })
      codes.push(res.status === 'error' ? res.code : res.status)
    }
    sessions.close()
    expect(codes.filter(c => c === 'ok')).toHaveLength(5)
    expect(codes.filter(c => c === 'throttled-rate')).toHaveLength(5)
    expect(sessionsOpened.n).toBe(1)
  })

  it('asks again on a fresh session when the server has closed an idle one', async () => {
    const { server, client, sessionsOpened } = await pair({ server: { idleMs: 150 } })
    const sessions = new QuerySessions(client, { idleMs: 60_000 })
    const first = await sessions.query(server.peerId, { id: 'i1', question: 'before the pause' }, { timeoutMs: 5000 })
    await new Promise(resolve => setTimeout(resolve, 500))
    const second = await sessions.query(server.peerId, { id: 'i2', question: 'after the pause' }, { timeoutMs: 5000 })
    sessions.close()
    expect([first.status, second.status]).toEqual(['ok', 'ok'])
    expect(sessionsOpened.n).toBe(2)
  })

  it('falls back to one-shot queries with a peer that does not speak the session protocol', async () => {
    const { server, client, sessionsOpened, oneShots } = await pair({ sessions: false })
    const sessions = new QuerySessions(client)
    const statuses: string[] = []
    for (let i = 0; i < 3; i++) statuses.push((await sessions.query(server.peerId, { id: `l${i}`, question: `legacy ${i}` }, { timeoutMs: 5000 })).status)
    sessions.close()
    expect(statuses).toEqual(['ok', 'ok', 'ok'])
    expect(sessionsOpened.n).toBe(0)
    expect(oneShots.n).toBe(3)
  })

  it('cancels the backend when the asker gives up on a session query, and serves the next one on a new session', async () => {
    const { server, client, backend, sessionsOpened } = await pair({ delayMs: 2000 })
    const sessions = new QuerySessions(client)
    const controller = new AbortController()
    const pending = sessions.query(server.peerId, { id: 'gone', question: 'slow' }, { timeoutMs: 5000, signal: controller.signal })
    setTimeout(() => controller.abort(), 200)
    await expect(pending).rejects.toMatchObject({ kind: 'aborted' })
    // Bounded by time, not by a count of short sleeps: on a loaded machine the cancellation takes longer to cross.
    await until(() => backend.aborted.length > 0, 5000, 'the server to cancel its backend')
    expect(backend.aborted).toEqual(['gone'])
    sessions.close()
    expect(sessionsOpened.n).toBe(1)
  })
})

describe('delegation between two PPAI nodes', () => {
  it('delegates one query after another over one session stream, and a new stream per query with sessions off', async () => {
    const streamsTo = async (sessionsPerPeer: number): Promise<{ answered: number, sessionStreams: number, oneShotAnswers: number }> => {
      const common = { network: 'qs-node-test', mdns: false, logLevel: 'silent', host: '127.0.0.1', port: 0, sessionsPerPeer }
      const nodes: PpaiNode[] = []
      try {
        nodes.push(await createPpaiNode({ ...common, name: 'server', backend: createInstantBackend({ label: 'server' }) }))
        nodes.push(await createPpaiNode({ ...common, name: 'asker', bootstrap: nodes[0].multiaddrs(), backend: createInstantBackend({ label: 'asker' }) }))
        const [server, asker] = nodes
        // Asked before its bootstrap dial, a node would look the peer up in an empty DHT: wait for the connection (bounded).
        for (let i = 0; i < 100 && asker.libp2p.getConnections(server.libp2p.peerId).length === 0; i++) await new Promise(resolve => setTimeout(resolve, 50))
        let answered = 0
        for (let i = 0; i < 10; i++) {
          const r = await asker.ask(`delegated ${i}`, { model: `peer:${server.peerId}`, deadlineMs: 5000 })
          if (r.servedBy === server.peerId) answered++
        }
        const conns = asker.libp2p.getConnections(server.libp2p.peerId)
        // Both nodes speak 1.1: the session is negotiated at 1.1.
        const sessionStreams = conns.flatMap(c => c.streams).filter(st => st.protocol === QUERY_SESSION_STREAMING_PROTOCOL).length
        return { answered, sessionStreams, oneShotAnswers: server.status().served.remote - (sessionStreams > 0 ? 10 : 0) }
      } finally {
        await Promise.all(nodes.map(async n => { await n.stop() }))
      }
    }
    const pooled = await streamsTo(4)
    const oneShot = await streamsTo(0)
    expect(pooled).toEqual({ answered: 10, sessionStreams: 1, oneShotAnswers: 0 })
    expect(oneShot).toEqual({ answered: 10, sessionStreams: 0, oneShotAnswers: 10 })
  })
})
