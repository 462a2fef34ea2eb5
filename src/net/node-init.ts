/**
 * A node's settings ({@link PpaiNodeInit}) and their defaults, named once
 * ({@link NODE_DEFAULTS}); the command line (commands/node.ts), the demo and
 * the tests build a node from these.
 */
import type { AgentBackend } from '../agent/backend.js'
import type { AsyncEmbedder, Embedder, PolicyName, Profile, RoutingPolicy } from '../core/types.js'
import type { PrivateKey } from '@libp2p/interface'
import type { Logger } from '../log.js'
import type { AnswerMemoLimits } from './answer-memos.js'
import { BEACON_INTERVAL_MS } from './beacons.js'
import type { PeerState } from './node-state.js'
import type { PeerLimits } from './peer-limits.js'
import type { ReconnectorOptions } from './reconnector.js'

/** The default network id. */
export const DEFAULT_NETWORK = 'ppai-main'

/** The defaults of a node's settings ({@link PpaiNodeInit}), named once. */
export const NODE_DEFAULTS = {
  concurrency: 1,
  beaconIntervalMs: BEACON_INTERVAL_MS,
  recordTtlMs: 10 * 60_000,
  lookupTimeoutMs: 1500,
  maxCandidates: 16,
  minCandidates: 4,
  autoDialBelow: 32,
  profileRepublishMs: 30_000,
  defaultDeadlineMs: 60_000,
  attemptPatience: 4,
  minAttemptMs: 2000,
  downMs: 30_000,
  probeFlipBits: 2
} as const

export interface PpaiNodeInit {
  /** A short name for people (logs, dashboard, records). */
  name: string
  network?: string
  /** Where the key (and nothing else yet) is kept; without it and without `privateKey` the node is ephemeral. */
  dataDir?: string
  privateKey?: PrivateKey
  host?: string
  port?: number
  bootstrap?: string[]
  mdns?: boolean
  /** Dial peers found by discovery (mDNS) while connected to fewer than this many (default 32). */
  autoDialBelow?: number
  /** Re-dialling the bootstrap list and known peers while the node has few connections (reconnector.ts; its defaults). */
  reconnect?: ReconnectorOptions
  backend: AgentBackend
  /** A policy value or name (default `ppai`): the demo runs every policy through this. */
  policy?: RoutingPolicy | PolicyName
  /** The embedding space (default the hash embedder); an {@link AsyncEmbedder} (a model server) is awaited on each query. */
  embedder?: Embedder | AsyncEmbedder
  /** The starting profile; else built from `seed`, else empty. */
  profile?: Profile
  /** What this node observed of its peers before (saved by node-state.ts): restored at start. */
  peerState?: PeerState
  /** Called after each rating is learnt (the own profile or the observations changed): node-state.ts saves then. */
  onLearn?: () => void
  /** Bounds of the memos of recent answers kept for ratings (answer-memos.ts). */
  answerMemos?: AnswerMemoLimits
  /** Owner's sample tasks (and how well the agent does on them) to seed the profile when there is no history. */
  seed?: Array<{ question: string, outcome?: number }>
  /** Tasks served at once (default 1, an edge device). */
  concurrency?: number
  /** Service time assumed before the first answer, ms (default 1000). */
  initialServiceMs?: number
  admission?: { ownerWaitBoundMs?: number, maxRemoteQueued?: number }
  /** Lend the agent to peers only where its own profile says it is good (core `EXPERT_ADMISSION`; needs a space with a corpus reference). Default true. */
  expertAdmission?: boolean
  beaconIntervalMs?: number
  /** Lifetime of profile and provider records, ms (default 10 min); republished at half of it. */
  recordTtlMs?: number
  /** Close a connection whose heartbeat ping fails (default true; see `Libp2pInit.abortOnPingFailure`). */
  abortOnPingFailure?: boolean
  /** A profile changed by feedback is republished at most this often, ms (default 30 s): each publication is a DHT put, a gossip message every peer verifies, and bucket provides. */
  profileRepublishMs?: number
  /** λ: utility lost per second of expected latency (default {@link DEFAULT_LATENCY_WEIGHT}). */
  latencyWeight?: number
  /** Whole-query deadline when the asker gives none, ms (default 60 s). */
  defaultDeadlineMs?: number
  /** Longest a single remote attempt may take, ms (default: the rest of the deadline minus the local reserve). */
  attemptTimeoutMs?: number
  /** A routed attempt times out after this many times the latency the policy expected of it (default 4)... */
  attemptPatience?: number
  /** ...but never sooner than this, ms (default 2000). */
  minAttemptMs?: number
  /** Candidates scored per query (default 16). */
  maxCandidates?: number
  /** Time spent looking up candidates in the DHT per query, ms (default 1500). */
  lookupTimeoutMs?: number
  /** A query waits for the DHT only while it knows fewer candidates than this (default 4). */
  minCandidates?: number
  /** Tables of the bucket code used in the DHT (default: all 8): every bucket key of every prototype is announced (the announcer queues the provides), and queries probe every table. */
  dhtTables?: number
  /** Neighbouring buckets probed per table in the DHT (default 2). */
  probeFlipBits?: number
  /** DHT bucket lookups a query waiting for candidates may start per second at most (default 4; bursts of twice that). */
  lookupsPerSec?: number
  /** Background DHT refresh: one stale bucket that queries probed is looked up per this period, ms (default 10 s; 0 = none); the period doubles (up to 5 min) while lookups find only peers already known. */
  providerRefreshMs?: number
  /** How long provider lookups of one bucket are reused, ms (default 60 s). */
  providerCacheMs?: number
  /** How long a peer that failed is left out of candidates, ms (default 30 s). */
  downMs?: number
  /** Seed of the node's random source (default: its peer id). */
  seedRng?: string | number
  /** Per-peer limits on the query protocol: streams, requests/s, bytes/s (defaults in peer-limits.ts). */
  peerLimits?: Partial<PeerLimits>
  /** Query session streams kept open per peer for delegated queries (default 4; 0 = a new stream per query). */
  sessionsPerPeer?: number
  logLevel?: string
  log?: Logger
}
