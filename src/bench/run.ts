/**
 * Runs a scenario: builds its world once, then simulates every policy on the
 * same arrivals, and gathers the results into the benchmark JSON.
 */
import type { PolicyName } from '../core/types.js'
import type { QuestionSet } from '../data/questions.js'
import { simulate, type ProgressCallback, type SimRun } from '../sim/simulator.js'
import { headline, type BenchResult } from '../results/metrics.js'
import { buildScenario, type BuiltScenario, type ScenarioName, type ScenarioParams } from './scenarios.js'

/** A finished benchmark: the JSON, the raw runs for the report, and the world. */
export interface BenchRun {
  result: BenchResult
  runs: Map<PolicyName, SimRun>
  built: BuiltScenario
}

/** Every parameter of a run as one flat record (printed, and stored in the JSON). */
export function describeParams (scenario: ScenarioName, p: ScenarioParams, built: BuiltScenario, set: QuestionSet, policies: readonly PolicyName[]): Record<string, unknown> {
  const { device, network, churn, kernel, ...sim } = p.sim
  return {
    scenario,
    data: built.source,
    synthetic: built.synthetic,
    ...(built.synthetic ? { syntheticGenerator: set.syntheticParams } : {}),
    policies: policies.join(','),
    ...sim,
    ownerWaitBoundMs: sim.ownerWaitBoundMs ?? (sim.expertAdmission ? 'core default (6 x the serving device\'s mean service time for a query it is expert for, below that refused)' : 'core default (2 x the serving device\'s mean service time)'),
    maxRemoteQueued: sim.maxRemoteQueued ?? (sim.expertAdmission ? 'core default (8)' : 'core default (4)'),
    ...prefixed('device', device),
    ...prefixed('network', network),
    ...prefixed('churn', churn),
    'kernel.nearSimilarity': kernel.nearSimilarity ?? 'core default',
    'kernel.temperature': kernel.temperature ?? 'core default',
    ...prefixed('agent', p.agents),
    models: built.models.length,
    embedder: built.embedderId,
    embedderSource: built.embedderSource,
    interestsSource: built.interestsSource,
    trainQuestions: built.trainQuestions,
    testQuestions: built.testQuestions,
    offeredLoadMeaning: 'each owner\'s demand as a fraction of its own device\'s capacity',
    oracleMeaning: 'true success (1/0 where an answer is recorded, the drawn accuracy elsewhere) and true queues'
  }
}

function prefixed (prefix: string, o: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [`${prefix}.${k}`, v]))
}

/** Progress of a whole benchmark: which policy, how far. */
export type BenchProgress = (policy: PolicyName, answered: number, total: number) => void

/** Builds the scenario and runs `policies` over it, in order. */
export function runBench (scenario: ScenarioName, p: ScenarioParams, set: QuestionSet, policies: readonly PolicyName[], onProgress?: BenchProgress, built?: BuiltScenario): BenchRun {
  const world = built ?? buildScenario(set, p)
  const runs = new Map<PolicyName, SimRun>()
  for (const policy of policies) {
    const progress: ProgressCallback | undefined = onProgress !== undefined ? (a, t) => onProgress(policy, a, t) : undefined
    runs.set(policy, simulate(world.world, p.sim, policy, progress))
  }
  const results = [...runs.values()].map(r => r.result)
  const result: BenchResult = {
    scenario,
    synthetic: world.synthetic,
    params: describeParams(scenario, p, world, set, policies),
    results
  }
  const h = headline(results)
  if (h !== undefined) result.headline = h
  return { result, runs, built: world }
}
