import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { afterEach, describe, expect, it } from 'vitest'
import { createHashEmbedder } from '../../src/core/embedder.js'
import { createLogger } from '../../src/log.js'
import { createPpaiLibp2p, type PpaiLibp2p } from '../../src/net/libp2p.js'
import { Reconnector } from '../../src/net/reconnector.js'
import { RECORD_REJECT_REASONS } from '../../src/net/records.js'
import { RejectionCounter } from '../../src/net/rejections.js'
import { until } from '../support/until.js'

const NETWORK = 'reconnect-test'
const embedder = createHashEmbedder()
const log = createLogger('reconnect-test', 'silent')

/** A real libp2p node on 127.0.0.1 without mDNS: it finds peers only through its bootstrap list. */
async function node (privateKey: PrivateKey, opts: { bootstrap?: string[], port?: number } = {}): Promise<PpaiLibp2p> {
  return await createPpaiLibp2p({ privateKey, network: NETWORK, embedderId: embedder.id, mdns: false, host: '127.0.0.1', recordRejections: new RejectionCounter(RECORD_REJECT_REASONS), ...opts })
}

const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

describe('a node that lost its connections (real libp2p on 127.0.0.1, no mDNS)', () => {
  const nodes: PpaiLibp2p[] = []
  const reconnectors: Reconnector[] = []
  afterEach(async () => {
    for (const r of reconnectors.splice(0)) r.stop()
    await Promise.all(nodes.splice(0).map(async n => await n.stop()))
  })

  it('stays alone without the reconnector, and is back within a few periods with it', async () => {
    const hub = await node(await generateKeyPair('Ed25519'))
    const member = await node(await generateKeyPair('Ed25519'), { bootstrap: hub.getMultiaddrs().map(String) })
    nodes.push(hub, member)
    await until(() => member.getPeers().length === 1, 10_000, 'the member to reach the hub by bootstrap')

    // The hub hangs up: libp2p re-dials nobody.
    await hub.hangUp(member.peerId)
    await until(() => member.getPeers().length === 0, 5000, 'the connection to close')
    await sleep(1500)
    expect(member.getPeers()).toHaveLength(0)

    const r = new Reconnector(member, hub.getMultiaddrs().map(String), log, { periodMs: 200 })
    reconnectors.push(r)
    r.start()
    await until(() => member.getPeers().length === 1, 5000, 'the member to re-dial the hub')
    expect(member.getPeers()[0].equals(hub.peerId)).toBe(true)
    expect(r.stats.reconnected).toBeGreaterThanOrEqual(1)
    expect(r.stats.failed).toBe(0)
  })

  it('backs off from a peer that is gone, and finds it again at its address when it is back', async () => {
    const hubKey = await generateKeyPair('Ed25519')
    let hub = await node(hubKey)
    const address = hub.getMultiaddrs().map(String)
    const port = Number(hub.getMultiaddrs()[0].getComponents().find(c => c.name === 'tcp')?.value)
    const member = await node(await generateKeyPair('Ed25519'), { bootstrap: address })
    nodes.push(member)
    await until(() => member.getPeers().length === 1, 10_000, 'the member to reach the hub by bootstrap')
    const r = new Reconnector(member, address, log, { periodMs: 100, maxBackoffMs: 800, dialTimeoutMs: 500 })
    reconnectors.push(r)
    r.start()

    await hub.stop()
    await until(() => member.getPeers().length === 0, 5000, 'the connection to close')
    const before = r.stats.dials
    await sleep(2000)
    // Without a backoff it would dial 20 times in 2 s (every 100 ms); with it, after 100, 200, 400, 800, 800 ms.
    const dials = r.stats.dials - before
    expect(dials).toBeGreaterThanOrEqual(2)
    expect(dials).toBeLessThanOrEqual(7)
    expect(r.stats.failed).toBeGreaterThanOrEqual(2)

    // The hub restarts on the same port with the same key.
    hub = await node(hubKey, { port })
    nodes.push(hub)
    await until(() => member.getPeers().length === 1, 5000, 'the member to find the restarted hub')
    expect(member.getPeers()[0].equals(hub.peerId)).toBe(true)
  })
})
