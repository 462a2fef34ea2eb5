import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createInstantBackend } from '../../src/agent/instant.js'
import type { PpaiLibp2p } from '../../src/net/libp2p.js'
import { createPpaiNode, type PpaiNode } from '../../src/net/node.js'
import type { QueryResponse } from '../../src/net/frames.js'
import { sendQuery } from '../../src/net/query-protocol.js'
import { bareLibp2p, connectAndIdentify } from './support.js'

/** The victim's agent takes this long per query, ms: long enough that the flooder's queries are all waiting when the honest peer asks. */
const SERVICE_MS = 400
/** Queries the flooder sends at once: within its rate and stream limits, more than the victim's 4 remote slots. */
const FLOOD = 6

describe('a peer flooding within its rate limits', () => {
  let victim: PpaiNode
  let flooder: PpaiLibp2p
  let honest: PpaiLibp2p

  beforeAll(async () => {
    victim = await createPpaiNode({ name: 'victim', network: 'share-test', mdns: false, host: '127.0.0.1', logLevel: 'silent', backend: createInstantBackend({ label: 'victim', delayMs: SERVICE_MS }) })
    ;[flooder, honest] = await Promise.all([0, 1].map(async () => await bareLibp2p('share-test')))
    for (const p of [flooder, honest]) await connectAndIdentify(p, victim.libp2p)
  })
  afterAll(async () => { await Promise.all([victim?.stop(), flooder?.stop(), honest?.stop()]) })

  it('holds only its share of the remote queue, so another peer still gets in', async () => {
    const flood = Array.from({ length: FLOOD }, async (_, i) => await sendQuery(flooder, victim.libp2p.peerId, { id: `flood-${i}`, question: `flood ${i}` }, { timeoutMs: 10_000 }))
    // Let the flood's requests arrive and be admitted or refused first.
    await new Promise(resolve => setTimeout(resolve, 150))
    const honestRes = await sendQuery(honest, victim.libp2p.peerId, { id: 'honest', question: 'an honest question' }, { timeoutMs: 10_000 })
    const floodRes: QueryResponse[] = await Promise.all(flood)
    const statuses = floodRes.map(r => r.status === 'busy' ? `busy:${r.reason ?? ''}` : r.status)
    console.log(`queue share: flooder ${JSON.stringify(statuses)}; honest ${honestRes.status}`)
    expect(honestRes.status).toBe('ok')
    // Half of the 4 remote slots: two of the flooder's queries served, the rest refused fast for its share.
    expect(statuses.filter(s => s === 'ok')).toHaveLength(2)
    expect(statuses.filter(s => s === 'busy:peer-share')).toHaveLength(FLOOD - 2)
  }, 30_000)
})
