/**
 * The PPAI node: a libp2p peer with an agent behind it. It serves remote
 * queries (owner first), publishes its signed profile and bucket provider
 * records, gossips load beacons, and routes its owner's queries with a core
 * policy — the same code the simulator runs — falling back to the next
 * candidate and finally to its own agent, so a query is answered or gets a
 * clear error before its deadline.
 */
import { randomUUID } from 'node:crypto'
import { peerIdFromString } from '@libp2p/peer-id'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import type { AgentBackend } from '../agent/backend.js'
import { LoadBeliefs } from '../core/beliefs.js'
import { createHashEmbedder } from '../core/embedder.js'
import { Decider } from '../core/decider.js'
import { projectCentroid } from '../core/map-projection.js'
import { buildProfile, emptyProfile, observe, prototypeQuality } from '../core/prototypes.js'
import { BucketCode } from '../core/bucket-code.js'
import { CandidateIndex } from '../core/retrieval.js'
import { seededRng, shuffled } from '../core/rng.js'
import { DEFAULT_LATENCY_WEIGHT, ownPredictedSuccess, scoresOwnSuccess } from '../core/router.js'
import { PeerObservations } from '../core/scoring.js'
import type { AsyncEmbedder, Decision, DecisionContext, Embedder, PolicyName, Profile, Rng, RoutingPolicy } from '../core/types.js'
import { createLogger, type Logger } from '../log.js'
import { AnswerMemos, ownCopy, type AnswerMemoLimits } from './answer-memos.js'
import { AskError } from './ask-error.js'
import { BEACON_INTERVAL_MS, BEACON_REJECT_REASONS, BeaconService, type BeaconRejectReason } from './beacons.js'
import { BucketProviderCache } from './buckets.js'
import { DecisionLog } from './decision-log.js'
import { QUERY_PROTOCOL, QUERY_SESSION_PROTOCOL, QUERY_SESSION_STREAMING_PROTOCOL, QUERY_STREAMING_PROTOCOL } from './frames.js'
import { loadOrCreateIdentity } from './identity.js'
import { createPpaiLibp2p, type PpaiLibp2p } from './libp2p.js'
import type { PeerState } from './node-state.js'
import { PeerLimiter, limitPerPeer, type PeerLimitReason, type PeerLimits } from './peer-limits.js'
import { ProfileDirectory } from './profile-directory.js'
import { ProfilePublisher } from './profile-publisher.js'
import { QUERY_REJECT_REASONS, QueryAttemptError, createQueryHandler, createQuerySessionHandler, encodeRequest, type QueryRejectReason, type QueryServerInit } from './query-protocol.js'
import { QuerySessions } from './query-sessions.js'
import { RECORD_REJECT_REASONS, type RecordRejectReason } from './records.js'
import { RejectionCounter } from './rejections.js'
import { ServingQueue } from './serving-queue.js'
import type { AskOptions, AskResult, Attempt, DecisionRecord, NodeService, NodeStatus, PeerSummary } from './service.js'

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

/** Counts of everything this node rejected, by reason. */
export interface RejectionCounts {
  records: Record<RecordRejectReason, number>
  frames: Record<QueryRejectReason, number>
  beacons: Record<BeaconRejectReason, number>
  /** Query streams refused by the per-peer limits. */
  limits: Record<PeerLimitReason, number>
}

/** A running PPAI node. */
export interface PpaiNode extends NodeService {
  readonly libp2p: PpaiLibp2p
  readonly network: string
  readonly policyName: PolicyName
  /** Listen addresses with `/p2p/<id>`, for others to bootstrap from. */
  multiaddrs(): string[]
  /** Rejected records, frames and beacons by reason. */
  rejections(): RejectionCounts
  /** What this node observed of its peers' answers, for saving (node-state.ts). */
  peerState(): PeerState
  /** Signs and publishes the current profile (DHT + gossip) and its bucket provider records. */
  publishProfile(): Promise<void>
  /** Resolves when the bucket provider records in flight have gone out. */
  announced(): Promise<void>
  /** Own bucket keys (every table), how many of them are announced, and provides that failed so far. */
  bucketAnnouncements(): { keys: number, announced: number, failedProvides: number }
  /** Dials a peer by multiaddr. */
  connect(addr: string): Promise<void>
  /** Sets the routing policy (e.g. between demo runs). */
  setPolicy(policy: RoutingPolicy | PolicyName): void
  /** Withdraws what can be withdrawn, stops serving and stops libp2p. */
  stop(): Promise<void>
}

interface CandidateInfo {
  id: string
  profile?: Profile
  rttMs: number
  serviceMs?: number
}

/** Creates and starts a node. */
export async function createPpaiNode (init: PpaiNodeInit): Promise<PpaiNode> {
  const node = new Node(init)
  await node.start()
  return node
}

const DEFAULT_RTT_MS = 20

class Node implements PpaiNode {
  readonly events = new EventTarget()
  readonly network: string
  readonly name: string
  libp2p!: PpaiLibp2p
  policyName: PolicyName = 'ppai'

  private readonly log: Logger
  private readonly embedder: Embedder | AsyncEmbedder
  private readonly code: BucketCode
  private readonly index: CandidateIndex
  private readonly queue: ServingQueue
  /** Beliefs, observations and the policy: the core's one decider, as the simulator's. */
  private readonly decider: Decider
  private readonly decisionLog = new DecisionLog(200)
  private readonly recordRejections = new RejectionCounter(RECORD_REJECT_REASONS)
  private readonly frameRejections = new RejectionCounter(QUERY_REJECT_REASONS)
  private readonly beaconRejections = new RejectionCounter(BEACON_REJECT_REASONS)
  private readonly peerLimiter: PeerLimiter
  private readonly answers: AnswerMemos
  private readonly down = new Map<string, number>()
  private readonly rtt = new Map<string, number>()
  private readonly peerIdCache = new Map<string, PeerId>()
  private providers!: BucketProviderCache
  private sessions!: QuerySessions
  private readonly afterQuery: Array<() => void> = []
  private queryPeersCache?: { at: number, ids: string[] }
  private readonly dhtTables: number
  private readonly served = { local: 0, remote: 0, refused: 0 }
  private readonly asked = { total: 0, delegated: 0, failed: 0 }
  private readonly stopController = new AbortController()
  private ownProfile: Profile
  private directory!: ProfileDirectory
  private beacons!: BeaconService
  private publisher!: ProfilePublisher
  private rng!: Rng
  private readonly ratings = new Map<string, { sum: number, count: number }>()
  private startedAt = 0
  private stopped = false
  private readonly recordTtlMs: number

  constructor (private readonly init: PpaiNodeInit) {
    this.name = init.name
    this.network = init.network ?? DEFAULT_NETWORK
    this.log = init.log ?? createLogger(`ppai:${init.name}`, init.logLevel)
    this.embedder = init.embedder ?? createHashEmbedder()
    this.code = new BucketCode(this.network, this.embedder.dim)
    this.index = new CandidateIndex(this.code)
    this.queue = new ServingQueue({ concurrency: init.concurrency ?? NODE_DEFAULTS.concurrency, initialServiceMs: init.initialServiceMs })
    this.decider = new Decider({ embedderId: this.embedder.id, dim: this.embedder.dim, policy: init.policy ?? 'ppai', beaconWindowMs: init.beaconIntervalMs ?? NODE_DEFAULTS.beaconIntervalMs, keepBeacons: true })
    this.policyName = this.decider.policyName
    this.answers = new AnswerMemos(init.answerMemos)
    for (const o of init.peerState?.observations ?? []) this.observations.restore(o.peerId, o.profile)
    for (const r of init.peerState?.ratings ?? []) this.ratings.set(r.peerId, { sum: r.sum, count: r.count })
    const embedder = this.embedder
    // A sync embedder seeds the profile here; an async one in start(), before the node goes on the network.
    this.ownProfile = init.profile ?? (init.seed != null && init.seed.length > 0 && 'embed' in embedder
      ? buildProfile(embedder.id, embedder.dim, init.seed.map(s => ({ embedding: embedder.embed(s.question), outcome: s.outcome })))
      : emptyProfile(embedder.id, embedder.dim))
    this.recordTtlMs = init.recordTtlMs ?? NODE_DEFAULTS.recordTtlMs
    this.dhtTables = Math.max(1, Math.min(init.dhtTables ?? this.code.tables, this.code.tables))
    this.peerLimiter = new PeerLimiter(init.peerLimits)
  }

  get peerId (): string {
    return this.libp2p.peerId.toString()
  }

  setPolicy (policy: RoutingPolicy | PolicyName): void {
    this.decider.setPolicy(policy)
    this.policyName = this.decider.policyName
  }

  private get beliefs (): LoadBeliefs {
    return this.decider.beliefs
  }

  private get observations (): PeerObservations {
    return this.decider.observations
  }

  async start (): Promise<void> {
    if (this.init.profile == null && this.init.seed != null && this.init.seed.length > 0 && !('embed' in this.embedder)) {
      const seeded: Array<{ embedding: Float32Array, outcome?: number }> = []
      // One at a time: a small model server serves one request at once anyway.
      for (const s of this.init.seed) seeded.push({ embedding: await this.embedder.embedAsync(s.question), outcome: s.outcome })
      this.ownProfile = buildProfile(this.embedder.id, this.embedder.dim, seeded)
    }
    let privateKey = this.init.privateKey
    if (privateKey == null && this.init.dataDir != null) privateKey = (await loadOrCreateIdentity(this.init.dataDir)).privateKey
    if (privateKey == null) {
      const { generateKeyPair } = await import('@libp2p/crypto/keys')
      privateKey = await generateKeyPair('Ed25519')
    }
    this.libp2p = await createPpaiLibp2p({
      privateKey,
      host: this.init.host,
      port: this.init.port,
      bootstrap: this.init.bootstrap,
      mdns: this.init.mdns,
      network: this.network,
      embedderId: this.embedder.id,
      recordRejections: this.recordRejections,
      // Provider records live as long as profile records; kad-dht re-provides them at half their life.
      providerTtlMs: this.recordTtlMs
    })
    this.startedAt = Date.now()
    this.rng = seededRng(this.init.seedRng ?? this.peerId)
    this.directory = new ProfileDirectory({ network: this.network, embedderId: this.embedder.id, selfId: this.peerId, routing: this.libp2p.contentRouting, rejections: this.recordRejections })
    this.providers = new BucketProviderCache({
      routing: this.libp2p.contentRouting,
      network: this.network,
      selfId: this.peerId,
      freshMs: this.init.providerCacheMs,
      lookupsPerSec: this.init.lookupsPerSec,
      backgroundPeriodMs: this.init.providerRefreshMs,
      isKnown: id => id === this.peerId || this.directory.get(id) != null,
      background: { limit: 2 * (this.init.maxCandidates ?? NODE_DEFAULTS.maxCandidates), timeoutMs: Math.max(this.init.lookupTimeoutMs ?? NODE_DEFAULTS.lookupTimeoutMs, 1000) }
    })
    this.providers.start()

    const serving: QueryServerInit = {
      queue: this.queue,
      backend: this.init.backend,
      rejections: this.frameRejections,
      admission: this.init.admission,
      ownSuccess: this.init.expertAdmission === false ? undefined : async question => await this.ownSuccessOn(question),
      log: this.log,
      onServed: evt => {
        if (evt.status === 'ok') this.served.remote++
        else if (evt.status === 'busy') this.served.refused++
        if (this.log.isLevelEnabled('debug')) this.log.debug({ from: evt.from, id: evt.id, status: evt.status, queuedMs: evt.queuedMs, workMs: evt.workMs }, 'remote query')
      }
    }
    // 1.0 and 1.1 (streamed answers) of both protocols, on the same per-peer budget.
    for (const [protocol, streaming] of [[QUERY_PROTOCOL, false], [QUERY_STREAMING_PROTOCOL, true]] as const) {
      await this.libp2p.handle(protocol, limitPerPeer(createQueryHandler({ ...serving, streaming }), this.peerLimiter), { maxInboundStreams: 256, maxOutboundStreams: 256 })
    }
    // A session's later requests are charged to the same per-peer budget as new streams (its first was, when it opened).
    for (const [protocol, streaming] of [[QUERY_SESSION_PROTOCOL, false], [QUERY_SESSION_STREAMING_PROTOCOL, true]] as const) {
      await this.libp2p.handle(protocol, limitPerPeer(createQuerySessionHandler({ ...serving, streaming, chargeRequest: peer => this.peerLimiter.acquire(peer)() }), this.peerLimiter), { maxInboundStreams: 256, maxOutboundStreams: 256 })
    }
    this.sessions = new QuerySessions(this.libp2p, { maxPerPeer: this.init.sessionsPerPeer })

    // libp2p 3 only records discovered peers; PPAI dials them (mDNS on a LAN) while it has few connections.
    this.libp2p.addEventListener('peer:discovery', evt => {
      const id = evt.detail.id
      if (this.stopped || id.equals(this.libp2p.peerId) || this.libp2p.getConnections(id).length > 0) return
      if (this.libp2p.getPeers().length >= (this.init.autoDialBelow ?? NODE_DEFAULTS.autoDialBelow)) return
      this.libp2p.dial(id).catch(err => this.log.debug({ peer: id.toString(), err: (err as Error).message }, 'could not dial a discovered peer'))
    })

    this.beacons = new BeaconService({
      pubsub: this.libp2p.services.pubsub,
      network: this.network,
      peerId: this.libp2p.peerId,
      intervalMs: this.init.beaconIntervalMs,
      rejections: this.beaconRejections,
      sample: () => ({ backlog: this.queue.backlog, serviceMs: this.queue.serviceMs, arrivalPerSec: this.queue.arrivalPerSec() }),
      onBeacon: (beacon, receivedAt) => {
        this.decider.hearBeacon(beacon, receivedAt)
        this.events.dispatchEvent(new CustomEvent('beacon', { detail: beacon }))
      }
    })
    this.beacons.start()
    this.publisher = new ProfilePublisher({
      libp2p: this.libp2p,
      key: privateKey,
      name: this.name,
      network: this.network,
      embedderId: this.embedder.id,
      profile: () => this.ownProfile,
      code: this.code,
      dhtTables: this.dhtTables,
      recordTtlMs: this.recordTtlMs,
      republishMs: this.init.profileRepublishMs ?? NODE_DEFAULTS.profileRepublishMs,
      directory: this.directory,
      index: this.index,
      recordRejections: this.recordRejections,
      signal: this.stopController.signal,
      log: this.log
    })
    this.publisher.start()
    this.log.info({ peerId: this.peerId, addrs: this.multiaddrs(), network: this.network, agent: this.init.backend.description, policy: this.policyName }, 'node started')
  }

  multiaddrs (): string[] {
    return this.libp2p.getMultiaddrs().map(ma => ma.toString())
  }

  async connect (addr: string): Promise<void> {
    await this.libp2p.dial(multiaddr(addr))
  }

  rejections (): RejectionCounts {
    return { records: this.recordRejections.snapshot(), frames: this.frameRejections.snapshot(), beacons: this.beaconRejections.snapshot(), limits: this.peerLimiter.rejections.snapshot() }
  }

  profile (): Profile {
    return this.ownProfile
  }

  async publishProfile (): Promise<void> {
    await this.publisher.publish()
  }

  /** Resolves when the bucket provider records in flight have gone out (tests and the demo wait on it). */
  async announced (): Promise<void> {
    await this.publisher.announced()
  }

  bucketAnnouncements (): { keys: number, announced: number, failedProvides: number } {
    return this.publisher.bucketAnnouncements()
  }

  // ---- asking ---------------------------------------------------------------

  async ask (question: string, opts: AskOptions = {}): Promise<AskResult> {
    if (this.stopped) throw new AskError('stopped', 'the node is stopping')
    if (question.trim() === '') throw new AskError('bad-request', 'empty question')
    const t0 = Date.now()
    const deadline = t0 + (opts.deadlineMs ?? this.init.defaultDeadlineMs ?? NODE_DEFAULTS.defaultDeadlineMs)
    const id = opts.id ?? randomUUID()
    // Only routing needs the embedding now; a forced query (local, peer:) is embedded if and when it is rated.
    const model = opts.model ?? 'ppai'
    const signal = opts.signal == null ? this.stopController.signal : AbortSignal.any([opts.signal, this.stopController.signal])
    this.asked.total++
    const embedding = model === 'local' || model.startsWith('peer:') ? undefined : await this.embedQuery(question, signal)
    const attempts: Attempt[] = []

    let decision: Decision | undefined
    let record: DecisionRecord | undefined
    let order: string[]
    if (model === 'local') {
      order = ['local']
    } else if (model.startsWith('peer:')) {
      const target = model.slice('peer:'.length)
      try {
        this.parsePeerId(target)
      } catch {
        this.asked.failed++
        throw new AskError('bad-request', `not a peer id: ${target}`)
      }
      try {
        encodeRequest({ id, question }, 1)
      } catch (err) {
        // Only the own agent could take it: the asker named a peer, so say so instead of failing the attempt.
        this.asked.failed++
        throw new AskError('bad-request', `the question is too large to send to a peer: ${(err as Error).message}; ask model 'local' or 'ppai' instead`)
      }
      order = [target]
    } else {
      if (embedding == null) throw new AskError('bad-request', `not a routed model: ${model}`)
      const candidates = await this.findCandidates(embedding, Math.min(this.init.lookupTimeoutMs ?? NODE_DEFAULTS.lookupTimeoutMs, Math.max(50, (deadline - Date.now()) / 4)))
      // The decision log keeps what the policy saw of each candidate.
      let seen: DecisionContext['candidates'] = []
      decision = this.decider.decide({
        now: Date.now(),
        queryId: id,
        embedding,
        local: { profile: this.ownProfile, backlog: this.queue.backlog, serviceMs: this.queue.serviceMs },
        candidates,
        latencyWeight: this.init.latencyWeight ?? DEFAULT_LATENCY_WEIGHT,
        rng: this.rng
      }, ctx => { seen = ctx.candidates })
      order = [decision.action, ...decision.fallbacks.filter(a => a !== decision?.action), 'local']
      order = order.filter((a, i) => order.indexOf(a) === i)
      const byId = new Map(decision.explanation.map(e => [e.action, e]))
      record = {
        id,
        at: t0,
        question: ownCopy(question, 500),
        candidates: seen.map(c => ({
          id: c.id,
          success: c.success.mean,
          believedBacklog: c.backlog.mean,
          probability: byId.get(c.id)?.probability ?? 0,
          utility: byId.get(c.id)?.utility ?? 0
        })),
        decision
      }
    }

    const finish = (servedBy: string, answer: string): AskResult => {
      this.runAfterQuery()
      const latencyMs = Date.now() - t0
      this.remember(id, question, embedding, servedBy)
      if (servedBy !== 'local') this.asked.delegated++
      if (record != null) {
        record.outcome = { servedBy, status: 'ok', latencyMs, attempts }
        this.logDecision(record)
      }
      return { id, question, answer, servedBy, decision, attempts, latencyMs }
    }
    const fail = (err: AskError): never => {
      this.runAfterQuery()
      this.asked.failed++
      if (record != null) {
        record.outcome = { servedBy: 'none', status: 'error', latencyMs: Date.now() - t0, attempts }
        this.logDecision(record)
      }
      throw err
    }

    // A streamed answer belongs to the agent whose first piece reached the asker: after that a failure ends the
    // query, since a fallback would append a second answer to part of the first.
    let streamedBy: string | undefined
    const tokensOf = (action: string): ((text: string) => void) | undefined => {
      const onToken = opts.onToken
      return onToken == null ? undefined : text => { streamedBy ??= action; onToken(text) }
    }

    for (const action of order) {
      if (signal.aborted) fail(new AskError(this.stopped ? 'stopped' : 'aborted', 'query aborted', attempts))
      const remaining = deadline - Date.now()
      if (remaining <= 0) break
      if (action === 'local') {
        const started = Date.now()
        try {
          const answer = await this.answerLocally(id, question, remaining, signal, tokensOf('local'))
          attempts.push({ action: 'local', status: 'ok', latencyMs: Date.now() - started })
          this.served.local++
          return finish('local', answer)
        } catch (err) {
          const timedOut = Date.now() >= deadline
          attempts.push({ action: 'local', status: timedOut ? 'timeout' : 'error', latencyMs: Date.now() - started, error: (err as Error).message })
          fail(new AskError(timedOut ? 'deadline' : signal.aborted ? 'aborted' : 'local-failed', `local agent: ${(err as Error).message}`, attempts))
        }
      }
      // Keep enough time for the local agent to answer if this peer fails (not when the peer was forced).
      const forced = model !== 'ppai'
      const reserve = forced ? 0 : Math.min(remaining / 2, this.queue.serviceMs * (this.queue.backlog + 1))
      // A routed attempt may take a few times what the policy expected of it, then the next choice gets its turn.
      const expected = decision?.explanation.find(e => e.action === action)?.expectedLatencyMs
      const patience = forced || expected == null || !Number.isFinite(expected) ? Number.POSITIVE_INFINITY : Math.max(this.init.minAttemptMs ?? NODE_DEFAULTS.minAttemptMs, (this.init.attemptPatience ?? NODE_DEFAULTS.attemptPatience) * expected)
      const timeoutMs = Math.max(50, Math.min(this.init.attemptTimeoutMs ?? Number.POSITIVE_INFINITY, patience, remaining - reserve))
      const outcome = await this.tryPeer(action, id, question, timeoutMs, signal, tokensOf(action))
      attempts.push(outcome.attempt)
      if (outcome.answer != null) return finish(action, outcome.answer)
      if (streamedBy != null) fail(new AskError(signal.aborted ? 'aborted' : 'interrupted', `peer ${action} broke off its streamed answer: ${outcome.attempt.error ?? outcome.attempt.status}`, attempts))
    }
    if (model.startsWith('peer:')) fail(new AskError('peer-failed', `peer ${order[0]} did not answer: ${attempts.at(-1)?.error ?? attempts.at(-1)?.status ?? 'no attempt'}`, attempts))
    return fail(new AskError('deadline', `no answer within the deadline (${attempts.length} attempts)`, attempts))
  }

  private async answerLocally (id: string, question: string, remainingMs: number, signal: AbortSignal, onToken?: (text: string) => void): Promise<string> {
    const controller = new AbortController()
    const timer = setTimeout(() => controller.abort(new Error('deadline passed')), remainingMs)
    const onAbort = (): void => controller.abort(new Error('aborted'))
    signal.addEventListener('abort', onAbort, { once: true })
    try {
      const served = await this.queue.submit('owner', async s => await this.init.backend.answer({ id, question, signal: s, onToken }), controller.signal)
      return served.value.text
    } finally {
      clearTimeout(timer)
      signal.removeEventListener('abort', onAbort)
    }
  }

  private async tryPeer (peer: string, id: string, question: string, timeoutMs: number, signal: AbortSignal, onChunk?: (text: string) => void): Promise<{ attempt: Attempt, answer?: string }> {
    const started = Date.now()
    let peerId: PeerId
    try {
      peerId = this.parsePeerId(peer)
    } catch {
      return { attempt: { action: peer, status: 'error', latencyMs: 0, error: 'not a peer id' } }
    }
    try {
      const res = await this.sessions.query(peerId, { id, question }, { timeoutMs, signal, onChunk })
      const latencyMs = Date.now() - started
      const now = Date.now()
      if (res.status === 'ok') {
        const rtt = Math.max(0, latencyMs - res.queuedMs - res.workMs)
        this.rtt.set(peer, 0.8 * (this.rtt.get(peer) ?? rtt) + 0.2 * rtt)
        this.decider.hearResponse(peer, { latencyMs, rttMs: rtt }, now)
        this.down.delete(peer)
        return { attempt: { action: peer, status: 'ok', latencyMs }, answer: res.answer }
      }
      if (res.status === 'busy') {
        this.decider.hearRefusal(peer, res.backlog, now)
        return { attempt: { action: peer, status: 'busy', latencyMs, error: res.reason } }
      }
      return { attempt: { action: peer, status: 'error', latencyMs, error: `${res.code}: ${res.message}` } }
    } catch (err) {
      const latencyMs = Date.now() - started
      const kind = err instanceof QueryAttemptError ? err.kind : 'stream'
      if (kind !== 'aborted' && kind !== 'too-large') {
        // A dial or stream failure drops the peer from candidates for a while (churn).
        this.down.set(peer, Date.now() + (this.init.downMs ?? NODE_DEFAULTS.downMs))
        // Unreachable: forget its profile too; gossip or the DHT bring it back if it returns.
        if (kind === 'dial') {
          this.index.remove(peer)
          this.directory.forget(peer)
        }
      }
      return { attempt: { action: peer, status: kind === 'timeout' ? 'timeout' : 'error', latencyMs, error: (err as Error).message } }
    }
  }

  /**
   * Candidates for a query: providers of its probe buckets in the DHT, plus
   * peers whose profiles gossip brought (the in-memory index). Provider
   * lookups are cached per bucket and refreshed in the background; a query
   * waits for the DHT only while it knows fewer than `minCandidates` peers
   * (or fewer than it is connected to, in a smaller network).
   */
  private async findCandidates (embedding: Float32Array, timeoutMs: number): Promise<CandidateInfo[]> {
    const self = this.peerId
    const limit = this.init.maxCandidates ?? NODE_DEFAULTS.maxCandidates
    // Own bucket per table plus its two least certain neighbours: 3 × tables DHT lookups (cached), not 9 × tables.
    const keys = this.code.probeKeys(embedding, { radius: 1, flipBits: this.init.probeFlipBits ?? NODE_DEFAULTS.probeFlipBits }).filter(key => tableOf(key) < this.dhtTables)
    const stale = this.providers.stale(keys)
    const refreshOpts = { limit: limit * 2, timeoutMs: Math.max(timeoutMs, 1000) }
    let hits = this.providers.hits(keys)
    const fromIndex = this.index.candidates(embedding, limit)
    const usable = (id: string): boolean => id !== self && (this.down.get(id) ?? 0) <= Date.now()
    const connected = (await this.queryPeers()).filter(usable)
    const known = new Set([...hits.keys(), ...fromIndex, ...connected].filter(usable)).size
    // Wait for the DHT only when what is at hand (buckets cached, gossip, connections) is too thin.
    if (known < Math.min(this.init.minCandidates ?? NODE_DEFAULTS.minCandidates, this.connectedPeerCount()) && stale.length > 0) {
      await Promise.race([this.providers.refresh(stale, refreshOpts), new Promise(resolve => setTimeout(resolve, timeoutMs).unref())])
      hits = this.providers.hits(keys)
    } else if (stale.length > 0) {
      // Not needed now: the background refresh looks these buckets up at its own pace (a lookup per query would cost more CPU than the query).
      this.providers.want(stale)
    }
    // Providers of more of the probed buckets first: they are nearer the query.
    const ranked = [...hits.entries()].sort((a, b) => b[1] - a[1]).map(([id]) => id)
    let live = [...new Set([...ranked.slice(0, limit), ...fromIndex, ...ranked.slice(limit)])].filter(usable).slice(0, limit * 2)
    // Too few near the query (e.g. newcomers with empty profiles): add connected peers that serve queries, so they get tried now and then.
    const wanted = this.init.minCandidates ?? NODE_DEFAULTS.minCandidates
    if (live.length < wanted) {
      const extra = connected.filter(id => !live.includes(id))
      live = live.concat(shuffled(extra, this.rng).slice(0, wanted - live.length))
    }
    return live.map(id => {
      const rec = this.directory.get(id)
      // A profile not at hand is fetched from the DHT for later queries; this one scores the peer from the prior and observations.
      if (rec == null) {
        this.afterQuery.push(() => { void this.directory.fetch(id, { timeoutMs: Math.max(timeoutMs, 1000) }).then(fetched => { if (fetched != null) this.index.upsert(id, fetched.profile) }) })
      }
      return { id, profile: rec?.profile, rttMs: this.rtt.get(id) ?? DEFAULT_RTT_MS, serviceMs: this.beliefs.serviceMs(id) }
    })
  }

  /** A peer id from its string, cached: decoding base58 and the key on every delegated query is measurable CPU. Throws on a bad id. */
  private parsePeerId (id: string): PeerId {
    let peerId = this.peerIdCache.get(id)
    if (peerId == null) {
      peerId = peerIdFromString(id)
      // Bounded: a network's worth of peers; cleared rather than tracked when exceeded.
      if (this.peerIdCache.size >= 4096) this.peerIdCache.clear()
      this.peerIdCache.set(id, peerId)
    }
    return peerId
  }

  /** Peers with an open connection, counted without building peer ids (libp2p's getPeers() decodes each). */
  private connectedPeerCount (): number {
    return new Set(this.libp2p.getConnections().map(c => c.remotePeer.toString())).size
  }

  /** Connected peers whose identify says they speak the query protocol. */
  private async queryPeers (): Promise<string[]> {
    // Cached for a second: asked on every query, and the peer store is async.
    if (this.queryPeersCache != null && Date.now() - this.queryPeersCache.at < 1000) return this.queryPeersCache.ids
    const out: string[] = []
    for (const peer of this.libp2p.getPeers()) {
      try {
        const info = await this.libp2p.peerStore.get(peer)
        if (info.protocols.includes(QUERY_PROTOCOL)) out.push(peer.toString())
      } catch {
        // Not in the peer store (yet): skip.
      }
    }
    this.queryPeersCache = { at: Date.now(), ids: out }
    return out
  }

  /** Background work deferred by a query (DHT lookups, profile fetches), started once it is answered. */
  private runAfterQuery (): void {
    // Bounded: under many concurrent queries only the newest deferred work is kept; stale buckets come round again.
    const work = this.afterQuery.splice(0).slice(-256)
    if (work.length > 0) setImmediate(() => { for (const w of work) w() })
  }

  private logDecision (record: DecisionRecord): void {
    this.decisionLog.add(record)
    this.events.dispatchEvent(new CustomEvent('decision', { detail: record }))
  }

  /** The own agent's predicted success on a question a peer sends (expert admission); undefined when it cannot be embedded or scored so. */
  private async ownSuccessOn (question: string): Promise<number | undefined> {
    // A space without a corpus reference (hash, openai:) keeps the plain terms: no embedding call for it.
    if (!scoresOwnSuccess(this.ownProfile)) return undefined
    try {
      const embedding = 'embed' in this.embedder ? this.embedder.embed(question) : await this.embedder.embedAsync(question, AbortSignal.timeout(5000))
      return ownPredictedSuccess(this.ownProfile, embedding)
    } catch {
      return undefined
    }
  }

  /** The query's vector; an async embedder's failure fails the query with its message (the node stays up). */
  private async embedQuery (question: string, signal: AbortSignal): Promise<Float32Array> {
    if ('embed' in this.embedder) return this.embedder.embed(question)
    try {
      return await this.embedder.embedAsync(question, signal)
    } catch (err) {
      this.asked.failed++
      if (signal.aborted) throw new AskError(this.stopped ? 'stopped' : 'aborted', 'query aborted while embedding it')
      throw new AskError('embedder-failed', `cannot embed the query: ${(err as Error).message}`)
    }
  }

  private remember (id: string, question: string, embedding: Float32Array | undefined, servedBy: string): void {
    this.answers.add(id, question, embedding, servedBy)
  }

  feedback (answerId: string, rating: number): boolean {
    const memo = this.answers.get(answerId)
    if (memo == null || !Number.isFinite(rating)) return false
    const outcome = Math.min(1, Math.max(0, rating))
    memo.rated = true
    const embedder = this.embedder
    if (memo.embedding == null && 'embed' in embedder) this.answers.embedded(answerId, embedder.embed(memo.question ?? ''))
    if (memo.embedding != null) {
      this.learn(memo.servedBy, memo.embedding, outcome)
      return true
    }
    // A forced query is embedded only now; by a model server, so the rating counts once its vector arrives.
    void (embedder as AsyncEmbedder).embedAsync(memo.question ?? '', this.stopController.signal).then(
      embedding => {
        this.answers.embedded(answerId, embedding)
        if (!this.stopped) this.learn(memo.servedBy, embedding, outcome)
      },
      err => this.log.warn({ answerId, err: (err as Error).message }, 'feedback not learnt: cannot embed the question')
    )
    return true
  }

  /** A rated answer of `servedBy` near `embedding`: the own profile learns, or this node's observations of the peer. */
  private learn (servedBy: string, embedding: Float32Array, outcome: number): void {
    if (servedBy === 'local') {
      observe(this.ownProfile, embedding, outcome)
      this.publisher.changed()
    } else {
      this.decider.recordAnswer(servedBy, embedding, outcome)
      const r = this.ratings.get(servedBy) ?? { sum: 0, count: 0 }
      r.sum += outcome
      r.count++
      this.ratings.set(servedBy, r)
    }
    this.init.onLearn?.()
  }

  peerState (): PeerState {
    return {
      observations: this.observations.entries(),
      ratings: [...this.ratings].map(([peerId, r]) => ({ peerId, sum: r.sum, count: r.count }))
    }
  }

  // ---- views ----------------------------------------------------------------

  status (): NodeStatus {
    const now = Date.now()
    return {
      peerId: this.peerId,
      name: this.name,
      network: this.network,
      embedderId: this.embedder.id,
      addresses: this.multiaddrs(),
      startedAt: this.startedAt,
      uptimeMs: now - this.startedAt,
      peers: this.connectedPeerCount(),
      backlog: this.queue.backlog,
      served: { ...this.served },
      asked: { ...this.asked },
      agent: this.init.backend.description
    }
  }

  peers (): PeerSummary[] {
    const now = Date.now()
    // One pass over the connections: libp2p's getPeers() re-decodes every peer id, a cost on every `peer:` request the API checks.
    const conns = new Map<string, string[]>()
    for (const c of this.libp2p.getConnections()) {
      const id = c.remotePeer.toString()
      conns.set(id, [...(conns.get(id) ?? []), c.remoteAddr.toString()])
    }
    const ids = new Set<string>([...conns.keys(), ...this.directory.all().map(r => r.peerId)])
    ids.delete(this.peerId)
    return [...ids].map(id => {
      const rec = this.directory.get(id)
      const observed = this.ratings.get(id)
      const lastBeacon = this.decider.lastBeacon(id)
      return {
        peerId: id,
        name: rec?.name,
        addresses: conns.get(id) ?? [],
        prototypes: (rec?.profile.prototypes ?? []).map(p => ({ count: p.count, quality: prototypeQuality(p), centroid2d: projectCentroid(p.centroid) })),
        profileVersion: rec?.version,
        believedBacklog: lastBeacon != null ? this.beliefs.belief(id, now).mean : undefined,
        lastBeacon,
        observedSuccess: observed == null ? undefined : observed.sum / observed.count,
        observedCount: observed?.count ?? 0
      }
    })
  }

  decisions (limit?: number): DecisionRecord[] {
    return this.decisionLog.recent(limit)
  }

  async stop (): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    this.beacons.stop()
    this.providers?.stop()
    await this.publisher.withdraw()
    this.stopController.abort(new Error('node stopping'))
    this.sessions?.close()
    await this.libp2p.stop()
    this.log.info({ peerId: this.peerId }, 'node stopped')
  }
}

/** The table index of a bucket key (`t3:0a1f` → 3). */
function tableOf (key: string): number {
  const m = /^t(\d+):/.exec(key)
  return m == null ? 0 : Number(m[1])
}
