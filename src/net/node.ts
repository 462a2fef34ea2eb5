/**
 * The PPAI node: a libp2p peer with an agent behind it, wired from its
 * parts. It serves remote queries (owner first, query-protocol.ts), publishes
 * its signed profile and bucket provider records (profile-publisher.ts),
 * gossips load beacons (beacons.ts), and routes its owner's queries through
 * the core's decider — the same code the simulator runs — on the query path
 * (query-path.ts, candidates.ts), falling back to the next candidate and
 * finally to its own agent, so a query is answered or gets a clear error
 * before its deadline. What is left here is the wiring and the views.
 */
import { multiaddr } from '@multiformats/multiaddr'
import { LoadBeliefs } from '../core/beliefs.js'
import { BucketCode } from '../core/bucket-code.js'
import { Decider } from '../core/decider.js'
import { createHashEmbedder } from '../core/embedder.js'
import { projectCentroid } from '../core/map-projection.js'
import { buildProfile, emptyProfile, prototypeQuality } from '../core/prototypes.js'
import { CandidateIndex } from '../core/retrieval.js'
import { seededRng } from '../core/rng.js'
import { DEFAULT_LATENCY_WEIGHT, ownPredictedSuccess, scoresOwnSuccess } from '../core/router.js'
import { PeerObservations } from '../core/scoring.js'
import type { AsyncEmbedder, Embedder, PolicyName, Profile, Rng, RoutingPolicy } from '../core/types.js'
import { createLogger, type Logger } from '../log.js'
import { AnswerMemos } from './answer-memos.js'
import { AskError } from './ask-error.js'
import { BEACON_REJECT_REASONS, BeaconService, type BeaconRejectReason } from './beacons.js'
import { BucketProviderCache } from './buckets.js'
import { CandidateFinder, connectedPeerCount } from './candidates.js'
import { DecisionLog } from './decision-log.js'
import { QUERY_PROTOCOL, QUERY_SESSION_PROTOCOL, QUERY_SESSION_STREAMING_PROTOCOL, QUERY_STREAMING_PROTOCOL } from './frames.js'
import { loadOrCreateIdentity } from './identity.js'
import { createPpaiLibp2p, type PpaiLibp2p } from './libp2p.js'
import { DEFAULT_NETWORK, NODE_DEFAULTS, type PpaiNodeInit } from './node-init.js'
import type { PeerState } from './node-state.js'
import { PeerLimiter, limitPerPeer, type PeerLimitReason } from './peer-limits.js'
import { ProfileDirectory } from './profile-directory.js'
import { ProfilePublisher } from './profile-publisher.js'
import { QueryPath } from './query-path.js'
import { QUERY_REJECT_REASONS, createQueryHandler, createQuerySessionHandler, type QueryRejectReason, type QueryServerInit } from './query-protocol.js'
import { QuerySessions } from './query-sessions.js'
import { Reconnector } from './reconnector.js'
import { RECORD_REJECT_REASONS, type RecordRejectReason } from './records.js'
import { RejectionCounter } from './rejections.js'
import { ServingQueue } from './serving-queue.js'
import type { AskOptions, AskResult, DecisionRecord, NodeService, NodeStatus, PeerSummary } from './service.js'

export { DEFAULT_NETWORK, NODE_DEFAULTS, type PpaiNodeInit } from './node-init.js'

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

/** Creates and starts a node. */
export async function createPpaiNode (init: PpaiNodeInit): Promise<PpaiNode> {
  const node = new Node(init)
  await node.start()
  return node
}

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
  private providers!: BucketProviderCache
  /** Re-dials the bootstrap list and known peers while the node has few connections. */
  private reconnector: Reconnector | undefined
  private sessions!: QuerySessions
  private queryPath?: QueryPath
  private readonly dhtTables: number
  /** Peers' queries served and refused (the owner's are counted by the query path). */
  private readonly served = { remote: 0, refused: 0 }
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
    this.decider = new Decider({ embedderId: this.embedder.id, dim: this.embedder.dim, policy: init.policy ?? 'ppai', beaconWindowMs: init.beaconIntervalMs ?? NODE_DEFAULTS.beaconIntervalMs, keepBeacons: true, expertPeers: init.expertAdmission !== false })
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
      providerTtlMs: this.recordTtlMs,
      abortOnPingFailure: this.init.abortOnPingFailure
    })
    this.startedAt = Date.now()
    this.reconnector = new Reconnector(this.libp2p, this.init.bootstrap ?? [], this.log, this.init.reconnect)
    this.reconnector.start()
    this.rng = seededRng(this.init.seedRng ?? this.peerId)
    this.directory = new ProfileDirectory({ network: this.network, embedderId: this.embedder.id, selfId: this.peerId, routing: this.libp2p.contentRouting, rejections: this.recordRejections })
    const maxCandidates = this.init.maxCandidates ?? NODE_DEFAULTS.maxCandidates
    const lookupTimeoutMs = this.init.lookupTimeoutMs ?? NODE_DEFAULTS.lookupTimeoutMs
    this.providers = new BucketProviderCache({
      routing: this.libp2p.contentRouting,
      network: this.network,
      selfId: this.peerId,
      freshMs: this.init.providerCacheMs,
      lookupsPerSec: this.init.lookupsPerSec,
      backgroundPeriodMs: this.init.providerRefreshMs,
      isKnown: id => id === this.peerId || this.directory.get(id) != null,
      background: { limit: 2 * maxCandidates, timeoutMs: Math.max(lookupTimeoutMs, 1000) }
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
    const candidates = new CandidateFinder({
      libp2p: this.libp2p,
      code: this.code,
      index: this.index,
      providers: this.providers,
      directory: this.directory,
      beliefs: this.beliefs,
      rng: this.rng
    }, {
      maxCandidates,
      minCandidates: this.init.minCandidates ?? NODE_DEFAULTS.minCandidates,
      probeFlipBits: this.init.probeFlipBits ?? NODE_DEFAULTS.probeFlipBits,
      dhtTables: this.dhtTables,
      downMs: this.init.downMs ?? NODE_DEFAULTS.downMs
    })
    this.queryPath = new QueryPath({
      queue: this.queue,
      backend: this.init.backend,
      decider: this.decider,
      embedder: this.embedder,
      candidates,
      sessions: this.sessions,
      answers: this.answers,
      ratings: this.ratings,
      profile: () => this.ownProfile,
      profileChanged: () => this.publisher.changed(),
      onDecision: record => {
        this.decisionLog.add(record)
        this.events.dispatchEvent(new CustomEvent('decision', { detail: record }))
      },
      onLearn: this.init.onLearn,
      rng: this.rng,
      signal: this.stopController.signal,
      isStopped: () => this.stopped,
      log: this.log
    }, {
      defaultDeadlineMs: this.init.defaultDeadlineMs ?? NODE_DEFAULTS.defaultDeadlineMs,
      lookupTimeoutMs,
      latencyWeight: this.init.latencyWeight ?? DEFAULT_LATENCY_WEIGHT,
      attemptTimeoutMs: this.init.attemptTimeoutMs ?? Number.POSITIVE_INFINITY,
      attemptPatience: this.init.attemptPatience ?? NODE_DEFAULTS.attemptPatience,
      minAttemptMs: this.init.minAttemptMs ?? NODE_DEFAULTS.minAttemptMs
    })
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
    if (this.queryPath == null) throw new AskError('stopped', 'the node has not started')
    return await this.queryPath.ask(question, opts)
  }

  feedback (answerId: string, rating: number): boolean {
    return this.queryPath?.feedback(answerId, rating) ?? false
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
      peers: connectedPeerCount(this.libp2p),
      backlog: this.queue.backlog,
      served: { local: this.queryPath?.servedLocally ?? 0, ...this.served },
      asked: { ...(this.queryPath?.asked ?? { total: 0, delegated: 0, failed: 0 }) },
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
    this.reconnector?.stop()
    this.beacons.stop()
    this.providers?.stop()
    await this.publisher.withdraw()
    this.stopController.abort(new Error('node stopping'))
    this.sessions?.close()
    await this.libp2p.stop()
    this.log.info({ peerId: this.peerId }, 'node stopped')
  }
}
