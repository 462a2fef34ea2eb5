/**
 * The benchmark's metrics and JSON shape, shared by `ppai bench` (simulated)
 * and `ppai demo` (real network), so both print the same table and JSON.
 */
import type { PolicyName } from '../core/types.js'

/** What became of one query. */
export interface QueryOutcome {
  /** From the owner's ask to the answer back, ms. */
  latencyMs: number
  correct: boolean
  /** Fast refusals met on the way. */
  refused: number
  /** Attempts that failed (peer gone, stream closed, deadline). */
  failed: number
  /** Query-protocol messages sent for this query (requests and replies). */
  messages: number
  /** `'local'` or the serving agent's id. */
  servedBy: string
}

/** Latency summary, ms. */
export interface LatencySummary {
  mean: number
  p50: number
  p95: number
  p99: number
}

/** One row of the results: a policy on the shared arrivals. */
export interface PolicyResult {
  policy: PolicyName | string
  /** Queries issued. */
  queries: number
  /** Share of answered queries that were right. */
  accuracy: number
  latencyMs: LatencySummary
  /** Jain's fairness index of the work served per agent (1 = perfectly even). */
  jain: number
  /** Largest queue (waiting + in service) seen at any agent. */
  maxBacklog: number
  /** Fast refusals, in total. */
  refused: number
  /** Failed attempts (each was followed by a fallback), in total. */
  failed: number
  /** Queries issued but never answered: must be 0. */
  lost: number
  messagesPerQuery: number
  /** Share of answered queries served by another agent than the owner's. */
  delegated: number
}

/** PPAI against its baselines, in the form of the research's headline. */
export interface Headline {
  /** ppai accuracy − local-only accuracy, percentage points. */
  accuracyGainPts: number
  /** The same, relative to local-only, %. */
  accuracyGainRelPct: number
  /** ppai mean latency against greedy's, % (negative = faster). */
  meanLatencyChangeVsGreedyPct: number
  /** ppai p95 latency against greedy's, %. */
  p95LatencyChangeVsGreedyPct: number
  /** ppai accuracy − greedy accuracy, points. */
  accuracyVsGreedyPts: number
  /** Share of the oracle's accuracy gain over local-only that ppai captures, %. */
  oracleGainSharePct: number
}

/** The JSON of a benchmark run. */
export interface BenchResult {
  scenario: string
  synthetic: boolean
  params: Record<string, unknown>
  results: PolicyResult[]
  headline?: Headline
}

/**
 * Outcomes of one policy's run, kept compactly (a million queries fit):
 * latencies in a growable Float64Array, counters for the rest.
 */
export class OutcomeLog {
  private latencies = new Float64Array(1024)
  private n = 0
  correct = 0
  refused = 0
  failed = 0
  messages = 0
  delegated = 0

  /** Number of outcomes recorded. */
  get count (): number {
    return this.n
  }

  add (o: QueryOutcome): void {
    if (this.n === this.latencies.length) {
      const bigger = new Float64Array(this.latencies.length * 2)
      bigger.set(this.latencies)
      this.latencies = bigger
    }
    this.latencies[this.n++] = o.latencyMs
    if (o.correct) this.correct++
    this.refused += o.refused
    this.failed += o.failed
    this.messages += o.messages
    if (o.servedBy !== 'local') this.delegated++
  }

  /** The recorded latencies, sorted ascending (a copy). */
  sortedLatencies (): Float64Array {
    return this.latencies.slice(0, this.n).sort()
  }
}

/** Jain's fairness index: (Σx)² / (n Σx²); 1 when all equal, 1/n when one takes all. */
export function jainIndex (values: ArrayLike<number>): number {
  let sum = 0
  let sq = 0
  for (let i = 0; i < values.length; i++) {
    sum += values[i]
    sq += values[i] * values[i]
  }
  return sq === 0 ? 1 : (sum * sum) / (values.length * sq)
}

/** The value at quantile `q` of ascending `sorted` (nearest rank). */
export function quantile (sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  return sorted[rank]
}

/** Inputs besides the outcomes: what the serving side saw. */
export interface LoadSummaryInput {
  /** Queries issued (answered or not). */
  issued: number
  /** Work served per agent (busy ms or request count), one entry per agent. */
  loadPerAgent: ArrayLike<number>
  maxBacklog: number
}

/** One results row from a policy's outcomes. */
export function summarise (policy: PolicyName | string, log: OutcomeLog | readonly QueryOutcome[], load: LoadSummaryInput): PolicyResult {
  let outcomes: OutcomeLog
  if (log instanceof OutcomeLog) {
    outcomes = log
  } else {
    outcomes = new OutcomeLog()
    for (const o of log) outcomes.add(o)
  }
  const sorted = outcomes.sortedLatencies()
  let sum = 0
  for (let i = 0; i < sorted.length; i++) sum += sorted[i]
  const answered = outcomes.count
  return {
    policy,
    queries: load.issued,
    accuracy: answered > 0 ? outcomes.correct / answered : NaN,
    latencyMs: {
      mean: answered > 0 ? sum / answered : NaN,
      p50: quantile(sorted, 0.5),
      p95: quantile(sorted, 0.95),
      p99: quantile(sorted, 0.99)
    },
    jain: jainIndex(load.loadPerAgent),
    maxBacklog: load.maxBacklog,
    refused: outcomes.refused,
    failed: outcomes.failed,
    lost: load.issued - answered,
    messagesPerQuery: load.issued > 0 ? outcomes.messages / load.issued : 0,
    delegated: answered > 0 ? outcomes.delegated / answered : 0
  }
}

/** PPAI's gains, when ppai, local-only, greedy and oracle are all in `results`. */
export function headline (results: readonly PolicyResult[]): Headline | undefined {
  const by = (name: string): PolicyResult | undefined => results.find(r => r.policy === name)
  const ppai = by('ppai')
  const local = by('local-only')
  if (ppai === undefined || local === undefined) return undefined
  const greedy = by('greedy')
  const oracle = by('oracle')
  const oracleGain = oracle !== undefined ? oracle.accuracy - local.accuracy : NaN
  return {
    accuracyGainPts: 100 * (ppai.accuracy - local.accuracy),
    accuracyGainRelPct: 100 * (ppai.accuracy - local.accuracy) / local.accuracy,
    meanLatencyChangeVsGreedyPct: greedy !== undefined ? 100 * (ppai.latencyMs.mean / greedy.latencyMs.mean - 1) : NaN,
    p95LatencyChangeVsGreedyPct: greedy !== undefined ? 100 * (ppai.latencyMs.p95 / greedy.latencyMs.p95 - 1) : NaN,
    accuracyVsGreedyPts: greedy !== undefined ? 100 * (ppai.accuracy - greedy.accuracy) : NaN,
    oracleGainSharePct: oracleGain > 0 ? 100 * (ppai.accuracy - local.accuracy) / oracleGain : NaN
  }
}
