/**
 * The simulator's public types: the world it runs, its parameters, what a
 * run returns, and the observers it calls.
 */
import type { CorrectnessModel } from '../agent/recorded-trace.js'
import type { DecisionContext, Profile } from '../core/types.js'
import type { Question } from '../data/questions.js'
import type { PolicyResult } from '../results/metrics.js'
import type { ChurnParams } from './churn.js'
import type { DeviceParams } from './device.js'
import type { NetworkParams } from './network.js'
import type { QuestionPool } from './workload.js'

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

/** Called now and then with the number of queries answered. */
export type ProgressCallback = (answered: number, total: number) => void

/** Observers of a run, for tests and traces: they see what a policy saw, and the truth beside it. */
export interface SimHooks {
  /** Every decision context, with the true backlog of any agent (`'local'` = the asking owner's) at that instant. */
  onDecision?: (ctx: DecisionContext, trueBacklog: (agentId: string) => number) => void
  /** Every answered query: the asking owner's and the serving agent's indexes (the same when the own agent answered), the question, whether the answer was right. */
  onAnswer?: (answer: { user: number, servedBy: number, question: Question, correct: boolean }) => void
}
