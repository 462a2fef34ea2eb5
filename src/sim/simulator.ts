/**
 * The discrete-event simulator (ARCHITECTURE.md §7): virtual time, seeded, one policy
 * per run over arrivals, questions, service times and churn that do not
 * depend on the policy, so every policy meets the same workload.
 *
 * What it models: per user, bursty Poisson arrivals and an own device serving
 * one request at a time, owner first; a round trip per pair of peers; load
 * beacons every `beaconPeriodMs` carried by gossip, so decisions rest on stale
 * load exactly as on a real node; owner-first admission with fast refusals
 * (core `admitRemote`); fallbacks to the next choice and finally the own
 * agent; churn, where a peer that leaves fails the requests it holds and
 * their senders fall back. What it does not model: deadlines on waiting
 * requests (a request admitted is served), profile updates while running.
 *
 * Decisions are made by the core: the router builds the context from
 * profiles, observations and beliefs, and the policy decides (the core's `Decider`, as on a node).
 */
import { admitRemote } from '../core/admission.js'
import { fnv1a32, seededRng } from '../core/rng.js'
import type { DecisionContext, LoadBeacon, OracleView, PolicyName, Profile, Rng } from '../core/types.js'
import type { CorrectnessModel } from '../agent/recorded-trace.js'
import type { Question } from '../data/questions.js'
import { OutcomeLog, summarise, type PolicyResult } from '../results/metrics.js'
import { sessionLengthMs, startsOnline, type ChurnParams } from './churn.js'
import { Decider, type DecisionInput } from '../core/decider.js'
import { ownPredictedSuccess, type CandidateInput } from '../core/router.js'
import { deviceSpeed, meanServiceTimeMs, outputTokens, serviceTimeMs, type DeviceParams } from './device.js'
import { DeviceQueue, type QueuedJob } from './device-queue.js'
import { EventQueue } from './event-queue.js'
import { roundTripMs, type NetworkParams } from './network.js'
import { ScoreMemo } from './score-memo.js'
import { observe } from '../core/prototypes.js'
import { rateFrom, RateMeter } from './rate-meter.js'
import { BurstyArrivals, QuestionPool } from './workload.js'

/** One agent of the simulated network (and its owner, the user who asks). */
export interface SimAgentSpec {
  id: string
  /** How the agent answers. */
  model: CorrectnessModel
  /** What it advertises: prototypes built from its training split only. */
  profile: Profile
  /** The owner's interests: what the owner asks about more often. */
  interests: readonly string[]
  /** Uniform draw in [0, 1) that fixes the device's decoding speed. */
  speedDraw: number
}

/** The simulated world: agents, questions, and the shared embedding and retrieval. */
export interface SimWorld {
  agents: readonly SimAgentSpec[]
  /** Questions the users ask (held-out split). */
  pool: QuestionPool
  embedderId: string
  dim: number
  /** The embedding of a question (the scenario caches them). */
  embed(q: Question): Float32Array
  /** Candidate agents for a question asked by `user`, best first, as agent indexes (the scenario's CandidateIndex, cached). */
  retrieve(q: Question, user: number): readonly number[]
}

/** Every parameter of a run; all are printed with the results. */
export interface SimParams {
  seed: number
  /** Queries issued in total. */
  queries: number
  /** Offered load: each owner's demand as a fraction of its own device's capacity. */
  load: number
  /** Share of an owner's queries drawn from its own interests (the rest from all subjects). */
  ownInterestShare: number
  burstFactor: number
  burstFraction: number
  meanBurstMs: number
  device: DeviceParams
  network: NetworkParams
  churn: ChurnParams
  /** A node gossips its load this often, ms. */
  beaconPeriodMs: number
  /** `all`: a node hears every peer's beacons; `candidates`: only of the peers it considers (large networks). */
  beaconScope: 'all' | 'candidates'
  /** A peer that left stays listed as a candidate this long (its records have not expired), ms. */
  recordTtlMs: number
  /** A peer that failed is not tried again by that node for this long, ms. */
  failureBackoffMs: number
  /** Candidates handed to the policy per query. */
  candidatesPerQuery: number
  /** Remote tries per query before the own agent answers. */
  maxRemoteAttempts: number
  /** λ: utility lost per second of expected latency. */
  latencyWeight: number
  /** Memory of the arrival-rate meters, ms. */
  rateMeterTauMs: number
  /** Owner-first admission: the owner's predicted wait bound, ms; null = the core's default (as on the node). */
  ownerWaitBoundMs: number | null
  /** Owner-first admission: remote requests queued at most; null = the core's default (as on the node). */
  maxRemoteQueued: number | null
  /** Owner-first admission knows where the serving agent is good (core `EXPERT_ADMISSION`, as on the node); false = the plain terms. */
  expertAdmission: boolean
  /** After the last arrival, queries still unanswered this much later count as lost, ms. */
  drainLimitMs: number
  /**
   * The own agent's profile learns from its owner's feedback on each answer it gives during the run (as a node's does);
   * what it advertises stays the profile it started with (a node republishes now and then; here peers see the start).
   */
  learnDuringRun: boolean
  /** Options of the core's scoring kernel; empty = the core's defaults (as on the node). For experiments only. */
  kernel: { nearSimilarity?: number, temperature?: number }
}

/** What a run produced: the results row and the raw material of the report's plots. */
export interface SimRun {
  result: PolicyResult
  /** Latencies, ms, ascending. */
  latencies: Float64Array
  /** Busy time per agent, ms. */
  busyMsPerAgent: Float64Array
  /** Requests served per agent (own and remote). */
  servedPerAgent: Float64Array
  /** Virtual time at the end, ms. */
  virtualMs: number
  events: number
  /** Wall-clock time of the run, ms (not part of the JSON: it differs between machines). */
  wallMs: number
}

const LOCAL = -1

function cloneProfile (p: Profile): Profile {
  return { ...p, prototypes: p.prototypes.map(x => ({ ...x, centroid: Float32Array.from(x.centroid) })), calibration: p.calibration !== undefined ? { ...p.calibration } : undefined }
}

/** A beacon record's fields (see `beacons` in {@link simulate}). */
const B_SENT_AT = 0
const B_BACKLOG = 1
const B_SERVICE = 2
const B_METER_COUNT = 3
const B_METER_AT = 4
const B_RATE = 5
const BEACON_FIELDS = 6
/** An agent's record: its newest and previous beacons, and the mirrors of its current state a beacon reads. */
const NEWEST = 0
const NOW_BACKLOG = 6
const NOW_SERVICE = 7
const PREVIOUS = 8
const NOW_METER_COUNT = 14
const NOW_METER_AT = 15
const BEACON_STRIDE = 16

/** A query from its arrival to its answer. */
interface QueryState {
  index: number
  user: number
  question: Question
  embedding: Float32Array
  arrivedAt: number
  /** Agent indexes to try, in order; ends with LOCAL. */
  plan: number[]
  planPos: number
  /** Increases with each attempt; replies to an older attempt are ignored. */
  token: number
  /** Where the current attempt is: an agent index or LOCAL. */
  at: number
  sentAt: number
  outputTokens: number
  refused: number
  failed: number
  messages: number
  done: boolean
}

type SimEvent =
  | { kind: 'arrival', user: number }
  | { kind: 'request', q: QueryState, token: number, agent: number }
  | { kind: 'refused', q: QueryState, token: number, agent: number, backlog: number }
  | { kind: 'answered', q: QueryState, token: number, agent: number }
  | { kind: 'attemptFailed', q: QueryState, token: number, agent: number }
  | { kind: 'serviceEnd', agent: number, serviceToken: number }
  | { kind: 'churn', agent: number }

/** Per agent: device, owner's decider, meters, churn state, last beacons. */
interface AgentState {
  spec: SimAgentSpec
  tokensPerSec: number
  meanServiceMs: number
  /** Measured mean service time (what the node would beacon). */
  measuredServiceMs: number
  device: DeviceQueue<QueryState>
  arrivals: BurstyArrivals
  arrivalRng: Rng
  churnRng: Rng
  decider: Decider
  /** The own agent's profile as its node holds it: the advertised one at the start, then learning from its owner's feedback on every answer it gives (the core's `observe`, as on a node). */
  ownProfile: Profile
  allMeter: RateMeter
  ownerMeter: RateMeter
  online: boolean
  busyMs: number
  served: number
  /** This agent's remote attempts in flight (its own queries at other agents). */
  outstanding: Set<QueryState>
  /** Peers this owner saw fail: agent index -> not before, ms. */
  backoff: Map<number, number>
}

/** Called now and then with the number of queries answered. */
export type ProgressCallback = (answered: number, total: number) => void

/** Observers of a run, for tests and traces: they see what a policy saw, and the truth beside it. */
export interface SimHooks {
  /** Every decision context, with the true backlog of any agent (`'local'` = the asking owner's) at that instant. */
  onDecision?: (ctx: DecisionContext, trueBacklog: (agentId: string) => number) => void
}

/** Runs one policy over the world; deterministic for a given seed. */
export function simulate (world: SimWorld, params: SimParams, policy: PolicyName, onProgress?: ProgressCallback, hooks: SimHooks = {}): SimRun {
  const wallStarted = performance.now()
  const { agents: specs } = world
  const N = specs.length
  const seed = params.seed >>> 0
  const sub = (label: string): Rng => seededRng(fnv1a32(label, seed))
  const policyRng = sub(`policy:${policy}`)
  const queue = new EventQueue<SimEvent>()
  const idIndex = new Map<string, number>(specs.map((s, i) => [s.id, i]))
  const log = new OutcomeLog()
  let maxBacklog = 0
  let issued = 0
  let answered = 0
  let events = 0
  let lastArrivalAt = 0
  let lastTime = 0
  const progressEvery = Math.max(1, Math.floor(params.queries / 200))

  // Profiles do not change during a run: every decider's advertised scores come from one memo of the core's predictSuccess.
  const advertisedScores = new ScoreMemo(params.kernel)
  /**
   * Every peer a decider hears of is an agent of the world: its beliefs find records by agent index, not by a map of ids
   * each. Almost every question is about an agent of the decision under way, so those are scanned (pointer compares)
   * before the map of 10,000 ids, whose lookups missed the cache.
   */
  const decisionIds: string[] = []
  const decisionAgents: number[] = []
  let decisionCount = 0
  const peerIndexOf = (id: string): number => {
    for (let n = 0; n < decisionCount; n++) if (decisionIds[n] === id) return decisionAgents[n]
    return idIndex.get(id) ?? -1
  }
  const agents: AgentState[] = specs.map((spec, i) => {
    const tokensPerSec = deviceSpeed(params.device, spec.speedDraw)
    const meanServiceMs = meanServiceTimeMs(params.device, tokensPerSec)
    const arrivalRng = sub(`arrivals:${i}`)
    const churnRng = sub(`churn:${i}`)
    return {
      spec,
      tokensPerSec,
      meanServiceMs,
      measuredServiceMs: meanServiceMs,
      device: new DeviceQueue<QueryState>(),
      arrivals: new BurstyArrivals({
        meanRatePerSec: params.load * 1000 / meanServiceMs,
        burstFactor: params.burstFactor,
        burstFraction: params.burstFraction,
        meanBurstMs: params.meanBurstMs
      }, arrivalRng),
      arrivalRng,
      churnRng,
      decider: new Decider({ embedderId: world.embedderId, dim: world.dim, policy, beaconWindowMs: params.beaconPeriodMs, scoring: params.kernel, predictAdvertised: advertisedScores.predict, peerIndex: peerIndexOf }),
      ownProfile: params.learnDuringRun ? cloneProfile(spec.profile) : spec.profile,
      allMeter: new RateMeter(params.rateMeterTauMs),
      ownerMeter: new RateMeter(params.rateMeterTauMs),
      online: startsOnline(params.churn, churnRng),
      busyMs: 0,
      served: 0,
      outstanding: new Set(),
      backoff: new Map()
    }
  })

  // Beacons are strictly periodic, one phase per agent, so they keep their phase order for the whole run: they are taken
  // from a wheel in that order instead of the heap (same times, same order; half the events never touch the heap).
  const beaconAt = new Float64Array(N)
  for (let i = 0; i < N; i++) {
    const a = agents[i]
    queue.push(a.arrivals.next(0), { kind: 'arrival', user: i })
    beaconAt[i] = sub(`beacon-phase:${i}`)() * params.beaconPeriodMs
    if (params.churn.enabled) queue.push(sessionLengthMs(params.churn, a.online, a.churnRng), { kind: 'churn', agent: i })
  }

  // What every decision asks of up to 17 other agents — listed? a beacon delivered? — and what a beacon reads of its sender
  // are kept in flat arrays, in step with the agent objects: 10,000 agent objects read at random miss the cache, these fit in it.
  const onlineNow = Uint8Array.from(agents, a => a.online ? 1 : 0)
  const offlineSince = new Float64Array(N).fill(-Infinity)
  /**
   * Per agent, in one record of BEACON_STRIDE numbers (two cache lines, where six arrays read at random were a dozen
   * misses per beacon): the last two beacons it sent (the newest may still be in flight on gossip) at NEWEST and
   * PREVIOUS, each its sent time (NaN: none), backlog, service time, the meter state its arrival rate is read from, and
   * that rate once somebody heard it (NaN: not read yet); and the sender's side a beacon reads, at NOW_*: its backlog,
   * measured service time and arrival meter state (mirrors of its device and meter).
   */
  const beacons = new Float64Array(BEACON_STRIDE * N)
  for (let i = 0; i < N; i++) {
    const b = BEACON_STRIDE * i
    for (const r of [b + NEWEST, b + PREVIOUS]) {
      beacons[r + B_SENT_AT] = NaN
      beacons[r + B_RATE] = NaN
    }
    beacons[b + NOW_SERVICE] = agents[i].measuredServiceMs
  }
  /** Each agent's id and advertised profile, in flat arrays: a decision reads them for ~8 agents at random, without touching their spec objects. */
  const agentIds = specs.map(s => s.id)
  const agentProfiles = specs.map(s => s.profile)
  /**
   * The candidates and own state handed to a decider, reused by every decision: the router reads them into a context of
   * its own at once and keeps none of them (one object per candidate per decision was garbage to collect).
   */
  const candidateInputs: CandidateInput[] = []
  const candidatePool: CandidateInput[] = []
  let localInput: DecisionInput['local'] | undefined
  /** The beacon handed to a decider: filled per delivery, read at once and never kept (LoadBeliefs copies its numbers). */
  const heard: LoadBeacon = { peerId: '', backlog: 0, serviceMs: 0, arrivalPerSec: 0, sentAt: 0 }

  const rtt = (a: number, b: number): number => roundTripMs(params.network, seed, a, b)
  const listed = (j: number, now: number): boolean => onlineNow[j] === 1 || now - offlineSince[j] < params.recordTtlMs

  function deliveredBeacon (j: number, now: number): LoadBeacon | undefined {
    const gossip = params.network.gossipDelayMs
    const b = BEACON_STRIDE * j
    if (beacons[b + NEWEST + B_SENT_AT] + gossip <= now) return beaconRecord(j, b + NEWEST)
    if (beacons[b + PREVIOUS + B_SENT_AT] + gossip <= now) return beaconRecord(j, b + PREVIOUS)
    return undefined
  }

  /** Beacon record `k` of agent `j`, with its arrival rate as the meter read when it was sent. */
  function beaconRecord (j: number, k: number): LoadBeacon {
    if (Number.isNaN(beacons[k + B_RATE])) beacons[k + B_RATE] = rateFrom(beacons[k + B_METER_COUNT], beacons[k + B_METER_AT], beacons[k + B_SENT_AT], params.rateMeterTauMs)
    heard.peerId = agentIds[j]
    heard.backlog = beacons[k + B_BACKLOG]
    heard.serviceMs = beacons[k + B_SERVICE]
    heard.arrivalPerSec = beacons[k + B_RATE]
    heard.sentAt = beacons[k + B_SENT_AT]
    return heard
  }

  function feedBeacons (user: number, peers: Iterable<number>, now: number): void {
    const d = agents[user].decider
    for (const j of peers) {
      if (j === user) continue
      const b = deliveredBeacon(j, now)
      if (b !== undefined) d.hearBeacon(b, b.sentAt + params.network.gossipDelayMs)
    }
  }

  function startService (i: number, now: number): void {
    const a = agents[i]
    const dev = a.device
    while (dev.current === undefined) {
      const job = dev.next()
      if (job === undefined) break
      // A request whose sender has moved on (failed over) is dropped: the stream closed.
      if (job.query.done || job.query.token !== job.token) continue
      dev.current = job
      dev.startedAt = now
      dev.serviceToken++
      queue.push(now + job.serviceMs, { kind: 'serviceEnd', agent: i, serviceToken: dev.serviceToken })
    }
    // Every change of a device's queue ends here (enqueue, end of service, churn).
    beacons[BEACON_STRIDE * i + NOW_BACKLOG] = dev.backlog
  }

  function enqueue (i: number, job: QueuedJob<QueryState>, now: number): void {
    const a = agents[i]
    a.device.enqueue(job)
    a.allMeter.add(now)
    beacons[BEACON_STRIDE * i + NOW_METER_COUNT] = a.allMeter.decayedCountValue
    beacons[BEACON_STRIDE * i + NOW_METER_AT] = a.allMeter.updatedAt
    if (!job.remote) a.ownerMeter.add(now)
    if (a.device.backlog > maxBacklog) maxBacklog = a.device.backlog
    startService(i, now)
  }

  /** The serving agent's own predicted success on a query, from the profile its node holds (as a node scores its owner's queries). */
  function ownSuccessOf (a: AgentState, q: QueryState): number | undefined {
    return ownPredictedSuccess(a.ownProfile, q.embedding, params.kernel)
  }

  function finish (q: QueryState, servedBy: number, now: number): void {
    if (q.done) return
    q.done = true
    answered++
    const model = agents[servedBy === LOCAL ? q.user : servedBy].spec.model
    const correct = model.correct(q.question)
    log.add({
      latencyMs: now - q.arrivedAt,
      correct,
      refused: q.refused,
      failed: q.failed,
      messages: q.messages,
      servedBy: servedBy === LOCAL ? 'local' : agentIds[servedBy]
    })
    if (servedBy !== LOCAL) agents[q.user].decider.recordAnswer(agentIds[servedBy], q.embedding, correct ? 1 : 0)
    else if (params.learnDuringRun) observe(agents[q.user].ownProfile, q.embedding, correct ? 1 : 0)
    if (onProgress !== undefined && answered % progressEvery === 0) onProgress(answered, params.queries)
  }

  /** Sends the query to the next agent of its plan (or the own agent). */
  function attemptNext (q: QueryState, now: number): void {
    const user = agents[q.user]
    q.token++
    while (q.planPos < q.plan.length) {
      const target = q.plan[q.planPos++]
      if (target === LOCAL || !user.online) break
      q.at = target
      q.sentAt = now
      q.messages++
      user.outstanding.add(q)
      if (!agents[target].online) {
        // Its records have not expired yet: the dial fails after a while.
        queue.push(now + params.network.dialFailureMs, { kind: 'attemptFailed', q, token: q.token, agent: target })
      } else {
        queue.push(now + rtt(q.user, target) / 2, { kind: 'request', q, token: q.token, agent: target })
      }
      return
    }
    q.at = LOCAL
    user.outstanding.delete(q)
    enqueue(q.user, { query: q, remote: false, token: q.token, serviceMs: serviceTimeMs(params.device, user.tokensPerSec, q.outputTokens) }, now)
  }

  function onArrival (i: number, now: number): void {
    // Other users' next arrivals are still scheduled when the count is reached.
    if (issued >= params.queries) return
    const a = agents[i]
    const qRng = a.arrivalRng
    const question = world.pool.draw(a.spec.interests, params.ownInterestShare, qRng)
    const q: QueryState = {
      index: issued,
      user: i,
      question,
      embedding: world.embed(question),
      arrivedAt: now,
      plan: [],
      planPos: 0,
      token: 0,
      at: LOCAL,
      sentAt: now,
      outputTokens: outputTokens(params.device, qRng()),
      refused: 0,
      failed: 0,
      messages: 0,
      done: false
    }
    issued++
    lastArrivalAt = now
    if (issued < params.queries) queue.push(a.arrivals.next(now), { kind: 'arrival', user: i })
    if (a.online && N > 1) q.plan = decidePlan(q, now)
    q.plan.push(LOCAL)
    attemptNext(q, now)
  }

  function decidePlan (q: QueryState, now: number): number[] {
    const user = agents[q.user]
    const ranked = world.retrieve(q.question, q.user)
    const chosen: number[] = []
    for (const j of ranked) {
      if (chosen.length >= params.candidatesPerQuery) break
      if (j === q.user || !listed(j, now)) continue
      const until = user.backoff.get(j)
      if (until !== undefined) {
        if (until > now) continue
        user.backoff.delete(j)
      }
      chosen.push(j)
    }
    for (let n = 0; n < chosen.length; n++) {
      decisionIds[n] = agentIds[chosen[n]]
      decisionAgents[n] = chosen[n]
    }
    // (Only when ids are unique: the map and the scan must give one index per id.)
    decisionCount = idIndex.size === N ? chosen.length : 0
    if (params.beaconScope === 'all') feedBeacons(q.user, agentIndexes, now)
    else feedBeacons(q.user, chosen, now)
    const candidates = candidateInputs
    candidates.length = chosen.length
    for (let n = 0; n < chosen.length; n++) {
      const j = chosen[n]
      if (n === candidatePool.length) candidatePool.push({ id: '', profile: agentProfiles[j], rttMs: 0 })
      const c = candidatePool[n]
      c.id = agentIds[j]
      c.profile = agentProfiles[j]
      c.rttMs = rtt(q.user, j)
      candidates[n] = c
    }
    localInput ??= { profile: user.ownProfile, backlog: 0, serviceMs: 0 }
    localInput.profile = user.ownProfile
    localInput.backlog = user.device.backlog
    localInput.serviceMs = user.measuredServiceMs
    // The truth is wrapped only for those who may see it: the oracle and the hooks.
    let oracle: OracleView | undefined
    let inspect: ((ctx: DecisionContext) => void) | undefined
    if (policy === 'oracle' || hooks.onDecision !== undefined) {
      const agentOf = (id: string): AgentState => agents[id === 'local' ? q.user : (idIndex.get(id) ?? q.user)]
      const trueBacklog = (id: string): number => agentOf(id).device.backlog
      if (policy === 'oracle') oracle = { trueSuccess: id => agentOf(id).spec.model.successProbability(q.question), trueBacklog }
      const onDecision = hooks.onDecision
      if (onDecision !== undefined) inspect = ctx => { onDecision(ctx, trueBacklog) }
    }
    const decision = user.decider.decide({
      now,
      queryId: `q${q.index}`,
      embedding: q.embedding,
      local: localInput,
      candidates,
      latencyWeight: params.latencyWeight,
      rng: policyRng,
      oracle
    }, inspect)
    const plan: number[] = []
    for (let n = -1; n < decision.fallbacks.length; n++) {
      const action = n < 0 ? decision.action : decision.fallbacks[n]
      if (action === 'local') break
      const j = idIndex.get(action)
      if (j !== undefined && !plan.includes(j)) plan.push(j)
      if (plan.length >= params.maxRemoteAttempts) break
    }
    return plan
  }

  function onRequest (q: QueryState, token: number, j: number, now: number): void {
    if (q.done || q.token !== token) return
    const target = agents[j]
    if (!target.online) {
      queue.push(now + params.network.dialFailureMs, { kind: 'attemptFailed', q, token, agent: j })
      return
    }
    const verdict = admitRemote({
      backlog: target.device.backlog,
      remoteQueued: target.device.remoteQueued,
      serviceMs: target.measuredServiceMs,
      ownerArrivalPerSec: target.ownerMeter.ratePerSec(now),
      ownSuccess: params.expertAdmission ? ownSuccessOf(target, q) : undefined
    }, { ownerWaitBoundMs: params.ownerWaitBoundMs ?? undefined, maxRemoteQueued: params.maxRemoteQueued ?? undefined })
    if (!verdict.admit) {
      q.messages++
      queue.push(now + rtt(q.user, j) / 2, { kind: 'refused', q, token, agent: j, backlog: target.device.backlog })
      return
    }
    enqueue(j, { query: q, remote: true, token, serviceMs: serviceTimeMs(params.device, target.tokensPerSec, q.outputTokens) }, now)
  }

  function onServiceEnd (i: number, serviceToken: number, now: number): void {
    const a = agents[i]
    const dev = a.device
    if (dev.serviceToken !== serviceToken || dev.current === undefined) return
    const job = dev.current
    dev.current = undefined
    const spent = now - dev.startedAt
    a.busyMs += spent
    a.served++
    // What the node measures of itself and beacons: an average of its service times.
    a.measuredServiceMs += (spent - a.measuredServiceMs) * 0.05
    beacons[BEACON_STRIDE * i + NOW_SERVICE] = a.measuredServiceMs
    const q = job.query
    if (!job.remote) {
      finish(q, LOCAL, now)
    } else if (!q.done && q.token === job.token) {
      q.messages++
      queue.push(now + rtt(q.user, i) / 2, { kind: 'answered', q, token: job.token, agent: i })
    }
    startService(i, now)
  }

  function onAnswered (q: QueryState, token: number, j: number, now: number): void {
    if (q.done || q.token !== token) return
    const user = agents[q.user]
    user.outstanding.delete(q)
    user.decider.hearResponse(agentIds[j], { latencyMs: now - q.sentAt, rttMs: rtt(q.user, j) }, now)
    finish(q, j, now)
  }

  function onRefused (q: QueryState, token: number, j: number, backlog: number, now: number): void {
    if (q.done || q.token !== token) return
    q.refused++
    agents[q.user].decider.hearRefusal(agentIds[j], backlog, now)
    attemptNext(q, now)
  }

  function onAttemptFailed (q: QueryState, token: number, j: number, now: number): void {
    if (q.done || q.token !== token) return
    q.failed++
    agents[q.user].backoff.set(j, now + params.failureBackoffMs)
    attemptNext(q, now)
  }

  function onBeacon (i: number, now: number): void {
    if (onlineNow[i] === 1) {
      // The newest record becomes the previous one; the new beacon is the newest.
      const b = BEACON_STRIDE * i
      const k = b + NEWEST
      const prev = b + PREVIOUS
      for (let f = 0; f < BEACON_FIELDS; f++) beacons[prev + f] = beacons[k + f]
      beacons[k + B_SENT_AT] = now
      beacons[k + B_BACKLOG] = beacons[b + NOW_BACKLOG]
      beacons[k + B_SERVICE] = beacons[b + NOW_SERVICE]
      // The rate is read from the meter's state only if somebody hears the beacon.
      beacons[k + B_METER_COUNT] = beacons[b + NOW_METER_COUNT]
      beacons[k + B_METER_AT] = beacons[b + NOW_METER_AT]
      beacons[k + B_RATE] = NaN
    }
  }

  function onChurn (i: number, now: number): void {
    const a = agents[i]
    a.online = !a.online
    onlineNow[i] = a.online ? 1 : 0
    if (!a.online) {
      offlineSince[i] = now
      beacons[BEACON_STRIDE * i + NEWEST + B_SENT_AT] = NaN
      beacons[BEACON_STRIDE * i + PREVIOUS + B_SENT_AT] = NaN
      // Remote requests it held fail; their senders learn it when the connection drops.
      const dropped = a.device.dropRemote()
      const cur = a.device.current
      if (cur?.remote === true) {
        a.busyMs += now - a.device.startedAt
        a.device.current = undefined
        a.device.serviceToken++
        dropped.push(cur)
      }
      for (const job of dropped) {
        const q = job.query
        if (q.done || q.token !== job.token) continue
        queue.push(now + rtt(q.user, i) / 2, { kind: 'attemptFailed', q, token: job.token, agent: i })
      }
      // Its own queries out on the network come back to the device.
      for (const q of [...a.outstanding]) {
        a.outstanding.delete(q)
        q.failed++
        q.planPos = q.plan.length
        attemptNext(q, now)
      }
      startService(i, now)
    }
    if (!drained()) queue.push(now + sessionLengthMs(params.churn, a.online, a.churnRng), { kind: 'churn', agent: i })
  }

  const drained = (): boolean => issued >= params.queries && answered >= issued
  const agentIndexes = specs.map((_, i) => i)

  const beaconOrder = Int32Array.from(agentIndexes).sort((x, y) => beaconAt[x] - beaconAt[y] || x - y)
  let beaconPos = 0
  while (true) {
    const nextBeaconAt = N > 0 ? beaconAt[beaconOrder[beaconPos]] : Infinity
    let e: SimEvent | undefined
    let now: number
    // At the same instant (measure zero with continuous times) the other event goes first.
    if (queue.size > 0 && queue.peekTime() <= nextBeaconAt) {
      e = queue.popEvent()
      now = queue.poppedTime
    } else if (N > 0) {
      e = undefined
      now = nextBeaconAt
    } else {
      break
    }
    if (issued >= params.queries && now > lastArrivalAt + params.drainLimitMs) break
    events++
    if (e === undefined) {
      const i = beaconOrder[beaconPos]
      onBeacon(i, now)
      beaconAt[i] = now + params.beaconPeriodMs
      beaconPos = beaconPos + 1 === N ? 0 : beaconPos + 1
    } else {
      switch (e.kind) {
        case 'arrival': onArrival(e.user, now); break
        case 'request': onRequest(e.q, e.token, e.agent, now); break
        case 'refused': onRefused(e.q, e.token, e.agent, e.backlog, now); break
        case 'answered': onAnswered(e.q, e.token, e.agent, now); break
        case 'attemptFailed': onAttemptFailed(e.q, e.token, e.agent, now); break
        case 'serviceEnd': onServiceEnd(e.agent, e.serviceToken, now); break
        case 'churn': onChurn(e.agent, now); break
      }
    }
    if (drained()) break
    lastTime = now
  }

  const busyMsPerAgent = Float64Array.from(agents, a => a.busyMs)
  const servedPerAgent = Float64Array.from(agents, a => a.served)
  const result = summarise(policy, log, { issued, loadPerAgent: busyMsPerAgent, maxBacklog })
  return { result, latencies: log.sortedLatencies(), busyMsPerAgent, servedPerAgent, virtualMs: lastTime, events, wallMs: performance.now() - wallStarted }
}
