import { generateKeyPair } from '@libp2p/crypto/keys'
import type { ConnectionGater, PeerId, PrivateKey } from '@libp2p/interface'
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
async function node (privateKey: PrivateKey, opts: { bootstrap?: string[], port?: number, connectionGater?: ConnectionGater } = {}): Promise<PpaiLibp2p> {
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

  it('dials a lost peer once per look, by its bootstrap address and its peer-store entry alike, and waits out its backoff', async () => {
    const hub = await node(await generateKeyPair('Ed25519'))
    // While `unreachable`, no connection between the two can open: the member's dials (the reconnector's, or its DHT's own
    // queries) are refused, and so are the hub's (its DHT dials the peers of its routing table too).
    let unreachable = false
    const apart = (p: PeerId): boolean => unreachable && p.equals(hub.peerId)
    const gate = { denyDialPeer: apart, denyInboundEncryptedConnection: apart }
    const member = await node(await generateKeyPair('Ed25519'), { bootstrap: hub.getMultiaddrs().map(String), connectionGater: gate })
    nodes.push(hub, member)
    await until(() => member.getPeers().length === 1, 10_000, 'the member to reach the hub by bootstrap')
    const r = new Reconnector(member, hub.getMultiaddrs().map(String), log, { periodMs: 300, dialTimeoutMs: 1000 })
    reconnectors.push(r)
    expect(await r.check()).toBe(0)

    unreachable = true
    // Hung up until none is left: a connection whose upgrade began before the gate closed may still open after it.
    await until(async () => {
      if (member.getPeers().length > 0) await hub.hangUp(member.peerId)
      return member.getPeers().length === 0
    }, 5000, 'the connections to close')
    // The hub is both a bootstrap address and a peer-store entry: one dial.
    expect(await r.check()).toBe(1)
    await until(() => r.stats.failed === 1, 5000, 'the dial to fail')
    // Within its backoff (300 ms after the first failure) the hub is not dialled again; after it, it is.
    expect(await r.check()).toBe(0)
    await sleep(400)
    expect(await r.check()).toBe(1)
    await until(() => r.stats.failed === 2, 5000, 'the second dial to fail')

    unreachable = false
    r.start()
    await until(() => member.getPeers().length === 1, 5000, 'the member to be back with the hub')
    expect(member.getPeers()[0].equals(hub.peerId)).toBe(true)
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
