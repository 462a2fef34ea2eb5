/**
 * A run's state and how it is set up from the world (ARCHITECTURE.md §7):
 * per agent a device, an owner with bursty arrivals and a decider, meters and
 * churn; the agenda with each agent's first arrival and churn; the beacon
 * phases. Every part of the run (attempts, serving, feedback, churn, the
 * event loop) reads and changes this one object.
 */
import { fnv1a32, seededRng } from '../core/rng.js'
import { Decider, type DecisionInput } from '../core/decider.js'
import type { CandidateInput } from '../core/router.js'
import type { PolicyName, Profile, Rng } from '../core/types.js'
import type { Question } from '../data/questions.js'
import { OutcomeLog } from '../results/metrics.js'
import { BeaconBoard } from './beacon-board.js'
import { sessionLengthMs, startsOnline } from './churn.js'
import { deviceSpeed, meanServiceTimeMs } from './device.js'
import { DeviceQueue } from './device-queue.js'
import { EventQueue } from './event-queue.js'
import { roundTripMs } from './network.js'
import { RateMeter } from './rate-meter.js'
import { ScoreMemo } from './score-memo.js'
import type { ProgressCallback, SimAgentSpec, SimHooks, SimParams, SimWorld } from './types.js'
import { BurstyArrivals } from './workload.js'

/** The own agent, where an agent index is expected. */
export const LOCAL = -1

/** A query from its arrival to its answer. */
export interface QueryState {
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

export type SimEvent =
  | { kind: 'arrival', user: number }
  | { kind: 'request', q: QueryState, token: number, agent: number }
  | { kind: 'refused', q: QueryState, token: number, agent: number, backlog: number }
  | { kind: 'answered', q: QueryState, token: number, agent: number }
  | { kind: 'attemptFailed', q: QueryState, token: number, agent: number }
  | { kind: 'serviceEnd', agent: number, serviceToken: number }
  | { kind: 'churn', agent: number }

/** Per agent: device, owner's decider, meters, churn state. */
export interface AgentState {
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

/**
 * Every peer a decider hears of is an agent of the world: its beliefs find records by agent index, not by a map of ids
 * each. Almost every question is about an agent of the decision under way, so those are scanned (pointer compares)
 * before the map of 10,000 ids, whose lookups missed the cache.
 */
export interface DecisionScan {
  ids: string[]
  agents: number[]
  /** How many of `ids` and `agents` hold the decision under way (0: scan none). */
  count: number
}

/** Everything a run holds. */
export interface SimState {
  world: SimWorld
  params: SimParams
  policy: PolicyName
  hooks: SimHooks
  onProgress: ProgressCallback | undefined
  /** Agents in the world. */
  N: number
  seed: number
  policyRng: Rng
  queue: EventQueue<SimEvent>
  idIndex: Map<string, number>
  log: OutcomeLog
  maxBacklog: number
  issued: number
  answered: number
  events: number
  lastArrivalAt: number
  lastTime: number
  progressEvery: number
  agents: AgentState[]
  /** Each agent's id and advertised profile, in flat arrays: a decision reads them for ~8 agents at random, without touching their spec objects. */
  agentIds: string[]
  agentProfiles: Profile[]
  agentIndexes: number[]
  board: BeaconBoard
  /**
   * What every decision asks of up to 17 other agents (listed?) is kept in flat arrays, in step with the agent
   * objects: 10,000 agent objects read at random miss the cache, these fit in it.
   */
  onlineNow: Uint8Array
  offlineSince: Float64Array
  /** When each agent beacons next, ms (a wheel in phase order, see the event loop). */
  beaconAt: Float64Array
  /** The agents of the decision under way, for the beliefs' `peerIndex`. */
  scan: DecisionScan
  /**
   * The candidates and own state handed to a decider, reused by every decision: the router reads them into a context of
   * its own at once and keeps none of them (one object per candidate per decision was garbage to collect).
   */
  candidateInputs: CandidateInput[]
  candidatePool: CandidateInput[]
  localInput: DecisionInput['local'] | undefined
}

function cloneProfile (p: Profile): Profile {
  return { ...p, prototypes: p.prototypes.map(x => ({ ...x, centroid: Float32Array.from(x.centroid) })), calibration: p.calibration !== undefined ? { ...p.calibration } : undefined }
}

/** The round trip between agents `a` and `b`, ms. */
export function rtt (s: SimState, a: number, b: number): number {
  return roundTripMs(s.params.network, s.seed, a, b)
}

/** Agent `j` is online, or left so recently that its records are still listed. */
export function listed (s: SimState, j: number, now: number): boolean {
  return s.onlineNow[j] === 1 || now - s.offlineSince[j] < s.params.recordTtlMs
}

/** Every query issued has been answered. */
export function drained (s: SimState): boolean {
  return s.issued >= s.params.queries && s.answered >= s.issued
}

/** The run's state at virtual time 0, with each agent's first arrival (and churn) on the agenda. */
export function setUpWorld (world: SimWorld, params: SimParams, policy: PolicyName, onProgress: ProgressCallback | undefined, hooks: SimHooks): SimState {
  const { agents: specs } = world
  const N = specs.length
  const seed = params.seed >>> 0
  const sub = (label: string): Rng => seededRng(fnv1a32(label, seed))
  const idIndex = new Map<string, number>(specs.map((s, i) => [s.id, i]))

  // Profiles do not change during a run: every decider's advertised scores come from one memo of the core's predictSuccess.
  const advertisedScores = new ScoreMemo(params.kernel)
  const scanIds: string[] = []
  const scanAgents: number[] = []
  const scan: DecisionScan = { ids: scanIds, agents: scanAgents, count: 0 }
  const peerIndexOf = (id: string): number => {
    for (let n = 0; n < scan.count; n++) if (scanIds[n] === id) return scanAgents[n]
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
      decider: new Decider({ embedderId: world.embedderId, dim: world.dim, policy, beaconWindowMs: params.beaconPeriodMs, scoring: params.kernel, predictAdvertised: advertisedScores.predict, peerIndex: peerIndexOf, expertPeers: params.expertAdmission }),
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

  const queue = new EventQueue<SimEvent>()
  const beaconAt = new Float64Array(N)
  for (let i = 0; i < N; i++) {
    const a = agents[i]
    queue.push(a.arrivals.next(0), { kind: 'arrival', user: i })
    beaconAt[i] = sub(`beacon-phase:${i}`)() * params.beaconPeriodMs
    if (params.churn.enabled) queue.push(sessionLengthMs(params.churn, a.online, a.churnRng), { kind: 'churn', agent: i })
  }

  const agentIds = specs.map(s => s.id)
  const state: SimState = {
    world,
    params,
    policy,
    hooks,
    onProgress,
    N,
    seed,
    policyRng: sub(`policy:${policy}`),
    queue,
    idIndex,
    log: new OutcomeLog(),
    maxBacklog: 0,
    issued: 0,
    answered: 0,
    events: 0,
    lastArrivalAt: 0,
    lastTime: 0,
    progressEvery: Math.max(1, Math.floor(params.queries / 200)),
    agents,
    agentIds,
    agentProfiles: specs.map(s => s.profile),
    agentIndexes: specs.map((_, i) => i),
    board: new BeaconBoard(agentIds, i => agents[i].measuredServiceMs, params.network.gossipDelayMs, params.rateMeterTauMs),
    onlineNow: Uint8Array.from(agents, a => a.online ? 1 : 0),
    offlineSince: new Float64Array(N).fill(-Infinity),
    beaconAt,
    scan,
    candidateInputs: [],
    candidatePool: [],
    localInput: undefined
  }
  return state
}
