/**
 * Assembles the libp2p node of PPAI (ARCHITECTURE.md §6): TCP, Noise, Yamux, identify,
 * ping, a Kademlia DHT under PPAI's own protocol that keeps private and
 * loopback addresses, gossipsub, mDNS and bootstrap discovery.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { bootstrap } from '@libp2p/bootstrap'
import { gossipsub, type GossipSub } from '@libp2p/gossipsub'
import { identify, type Identify } from '@libp2p/identify'
import { kadDHT, removePublicAddressesMapper, type KadDHT } from '@libp2p/kad-dht'
import { mdns } from '@libp2p/mdns'
import { ping, type Ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { createLibp2p, type Libp2p, type Libp2pOptions } from 'libp2p'
import type { ConnectionGater, PrivateKey } from '@libp2p/interface'
import { KAD_PROTOCOL } from './frames.js'
import { kadStreamGuard, type KadStreamGuard } from './kad-stream-guard.js'
import { PROFILE_KEY_NAMESPACE, profileRecordSelector, profileRecordValidator, type RecordRejectReason } from './records.js'
import type { RejectionCounter } from './rejections.js'

/** The services PPAI's libp2p node runs. */
export interface PpaiServices {
  [key: string]: unknown
  identify: Identify
  ping: Ping
  dht: KadDHT
  pubsub: GossipSub
  /** Lets kad-dht's finished inbound streams be collected (kad-stream-guard.ts). */
  kadGuard: KadStreamGuard
}

export type PpaiLibp2p = Libp2p<PpaiServices>

export interface Libp2pInit {
  privateKey: PrivateKey
  /** Listen host (default 127.0.0.1; 0.0.0.0 for a LAN). */
  host?: string
  /** Listen port (0 = any free port). */
  port?: number
  /** Multiaddrs (with /p2p/<id>) dialled at start. */
  bootstrap?: string[]
  /** Discover peers on the LAN by mDNS (default true). */
  mdns?: boolean
  network: string
  embedderId: string
  recordRejections: RejectionCounter<RecordRejectReason>
  /** Lifetime of bucket provider records, ms (default 10 min): a departed node's records vanish after it. */
  providerTtlMs?: number
  /** Refuses some connections (hardening; tests use it to keep two peers apart). */
  connectionGater?: ConnectionGater
  /**
   * Close a connection whose heartbeat ping fails (libp2p's connection monitor; default true). Many nodes sharing one
   * process (the DHT bench's 64) lag their event loop by seconds, which the monitor takes for dead peers: there, false.
   */
  abortOnPingFailure?: boolean
}

/** Creates (and starts) the libp2p node. */
export async function createPpaiLibp2p (init: Libp2pInit): Promise<PpaiLibp2p> {
  const host = init.host ?? '127.0.0.1'
  const family = host.includes(':') ? 'ip6' : 'ip4'
  const peerDiscovery: NonNullable<Libp2pOptions<PpaiServices>['peerDiscovery']> = []
  if (init.bootstrap != null && init.bootstrap.length > 0) {
    // A short wait: the bootstrap peers are dialled as soon as the node has started.
    peerDiscovery.push(bootstrap({ list: init.bootstrap, timeout: 50 }))
  }
  if (init.mdns !== false) {
    // Service tag per network, so two PPAI networks on one LAN do not discover each other.
    peerDiscovery.push(mdns({ serviceTag: `ppai-${init.network}.local`, interval: 5_000 }))
  }
  const providerTtlMs = init.providerTtlMs ?? 10 * 60_000
  return await createLibp2p<PpaiServices>({
    privateKey: init.privateKey,
    connectionGater: init.connectionGater,
    // libp2p refuses more than 5 new inbound connections a second from one host by default; many peers behind one
    // address (a LAN's NAT, or several nodes on 127.0.0.1) then start isolated, as a refused bootstrap dial is not retried.
    // Per-peer stream, request and byte limits (peer-limits.ts) do the flood protection instead.
    connectionManager: { inboundConnectionThreshold: 50, maxIncomingPendingConnections: 32 },
    connectionMonitor: { abortConnectionOnPingFailure: init.abortOnPingFailure ?? true },
    addresses: { listen: [`/${family}/${host}/tcp/${init.port ?? 0}`] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    peerDiscovery,
    services: {
      identify: identify(),
      // The connection monitor and the DHT both ping: with the default limit of one outbound ping stream, the monitor's ping
      // fails while the DHT's runs, and the monitor then aborts a healthy connection.
      ping: ping({ maxOutboundStreams: 8, maxInboundStreams: 8 }),
      dht: kadDHT({
        protocol: KAD_PROTOCOL,
        // Keeps private and loopback addresses: without it lookups on a LAN or on 127.0.0.1 find nothing.
        peerInfoMapper: removePublicAddressesMapper,
        clientMode: false,
        validators: { [PROFILE_KEY_NAMESPACE]: profileRecordValidator({ network: init.network, embedderId: init.embedderId, counter: init.recordRejections }) },
        selectors: { [PROFILE_KEY_NAMESPACE]: profileRecordSelector },
        initialQuerySelfInterval: 500,
        maxInboundStreams: 64,
        maxOutboundStreams: 64,
        // Short-lived provider records, re-provided at half their life: churn clears itself.
        providers: { provideValidity: Math.ceil(providerTtlMs / 1000), cleanupInterval: Math.ceil(providerTtlMs / 2000) },
        // Re-provides a few at a time (kad-dht's default is 10). Kad streams one node opens to one peer at once: at most 2 per
        // provide of the announcer (4 at a time, buckets.ts), 2 per re-provide (4), 1 per bucket lookup (8): 24, under the 64
        // inbound accepted per connection above (kad-dht's default of 32 refused a node announcing its 64 keys at once).
        reprovide: { validity: providerTtlMs, threshold: providerTtlMs / 2, interval: Math.max(1000, providerTtlMs / 4), concurrency: 4 }
      }),
      pubsub: gossipsub({
        allowPublishToZeroTopicPeers: true,
        ignoreDuplicatePublishError: true,
        emitSelf: false,
        globalSignaturePolicy: 'StrictSign'
      }),
      kadGuard: kadStreamGuard(KAD_PROTOCOL)
    }
  })
}
