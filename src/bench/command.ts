/**
 * `ppai bench`: runs a scenario for every policy on the same arrivals, prints
 * the parameters and one table, writes the JSON and, with `--report`, a
 * Markdown report with SVG plots.
 */
import { mkdirSync, writeFileSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'
import { isMainThread, resourceLimits } from 'node:worker_threads'
import { Command, Option } from 'commander'
import { POLICY_NAMES, type PolicyName } from '../core/types.js'
import { DEFAULT_LATENCY_WEIGHT } from '../core/router.js'
import { DataError, loadQuestionSet, type QuestionSet } from '../data/questions.js'
import { runBenchThread } from './bench-thread.js'
import { ProgressBar } from './progress.js'
import { writeReport, type SweepPoint } from './report.js'
import { runBench, type BenchRun } from './run.js'
import { buildScenarioParallel, scenarioDefaults, type ScenarioName, type ScenarioParams } from './scenarios.js'
import { BenchOptionsError, parseBenchOptions, type BenchOptions } from './options.js'
import { formatParams, formatTable } from '../results/table.js'
import { checkTargets, formatTargets } from './targets.js'

/** The loads of the report's sweep, unless `--sweep` says otherwise. */
export const DEFAULT_SWEEP = [0.3, 0.5, 0.7, 0.9, 1.1]

/** Every policy, except at `scale` where a million queries per policy would take minutes each: ppai only. */
export function defaultPolicies (scenario: ScenarioName): PolicyName[] {
  return scenario === 'scale' ? ['ppai'] : [...POLICY_NAMES]
}

/** The scenario's parameters with the flags applied. */
export function applyFlags (scenario: ScenarioName, opts: BenchOptions): ScenarioParams {
  const p = scenarioDefaults(scenario)
  if (opts.seed !== undefined) p.sim.seed = opts.seed
  if (opts.agents !== undefined) p.agents.agents = opts.agents
  if (opts.queries !== undefined) p.sim.queries = opts.queries
  if (opts.load !== undefined) p.sim.load = opts.load
  if (opts.churn !== undefined) p.sim.churn.enabled = opts.churn
  if (opts.latencyWeight !== undefined) p.sim.latencyWeight = opts.latencyWeight
  if (opts.kernelNear !== undefined) p.sim.kernel.nearSimilarity = opts.kernelNear
  if (opts.kernelTemperature !== undefined) p.sim.kernel.temperature = opts.kernelTemperature
  if (opts.embedder !== undefined) p.agents.embedder = opts.embedder
  return p
}

/** Loads the question set the flags ask for; a clear error when a given folder has no data. */
export function questionSetFor (opts: BenchOptions): QuestionSet {
  return loadQuestionSet({ dataDir: opts.data, synthetic: opts.synthetic === true, seed: opts.seed ?? 1 })
}

/** Runs the whole benchmark as the flags say; returns the main run. Output goes to the given streams. */
export async function benchMain (raw: unknown, out: (line: string) => void = line => { process.stdout.write(line + '\n') }, io: BenchIo = {}): Promise<BenchRun> {
  const started = performance.now()
  const opts = parseBenchOptions(raw)
  const set = questionSetFor(opts)
  const params = applyFlags(opts.scenario, opts)
  const policies: PolicyName[] = opts.policies ?? defaultPolicies(opts.scenario)
  // A worker thread's process.stderr is forwarded only when the thread yields, which a simulation does not: write to fd 2 at once.
  const progressOut = isMainThread ? process.stderr : { write: (text: string) => writeSync(2, text) }
  const bar = opts.progress === false ? undefined : new ProgressBar(progressOut, 30, io.stderrIsTTY ?? process.stderr.isTTY === true)
  const buildStarted = performance.now()
  const built = await buildScenarioParallel(set, params)
  const buildMs = performance.now() - buildStarted
  const main = runBench(opts.scenario, params, set, policies, bar !== undefined ? (policy, a, t) => bar.update(policy, a, t) : undefined, built)
  const wallMs = performance.now() - started
  bar?.done('all policies', `${(wallMs / 1000).toFixed(1)} s`)
  out(`ppai bench --scenario ${opts.scenario}${set.synthetic ? '   [SYNTHETIC workload: the MMLU-Redux data was not found or not used]' : ''}`)
  out('parameters:')
  out(formatParams(main.result.params))
  out('')
  out(formatTable(main.result))
  out('')
  out('targets (measured, not tuned toward):')
  out(formatTargets(checkTargets(main.result)))
  const maxRssMB = process.resourceUsage().maxRSS / 1024
  out(`timing: scenario built (profiles, index) in ${(buildMs / 1000).toFixed(1)} s on ${built.threads} thread${built.threads > 1 ? 's' : ''}; ${[...main.runs.entries()].map(([p, r]) => `${p} ${(r.wallMs / 1000).toFixed(1)} s`).join(', ')}`)
  const cpu = process.cpuUsage()
  // CPU time as well as wall time: on a shared machine the wall clock also measures the neighbours.
  const young = isMainThread ? 'on the main thread (V8\'s default young generation)' : `in a worker thread with a ${resourceLimits.maxYoungGenerationSizeMb ?? '?'} MB young generation`
  out(`wall time ${(wallMs / 1000).toFixed(1)} s, CPU time ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s (process), for ${policies.length} policies x ${params.sim.queries} queries over ${params.agents.agents} agents, run ${young}; peak RSS ${maxRssMB.toFixed(0)} MB`)
  if (opts.json !== undefined) {
    mkdirSync(dirname(opts.json), { recursive: true })
    writeFileSync(opts.json, JSON.stringify(main.result, null, 2) + '\n')
    out(`JSON written to ${opts.json}`)
  }
  if (opts.report !== undefined) {
    const loads = opts.sweep ?? DEFAULT_SWEEP
    const sweepQueries = opts.sweepQueries ?? Math.min(params.sim.queries, 10_000)
    const sweep: SweepPoint[] = []
    for (const load of loads) {
      const p = structuredClone(params)
      p.sim.load = load
      p.sim.queries = sweepQueries
      const label = `load ${load}`
      const r = runBench(opts.scenario, p, set, policies, bar !== undefined ? (policy, a, t) => bar.update(`${label} ${policy}`, a, t) : undefined, await buildScenarioParallel(set, p))
      bar?.done(label)
      sweep.push({ load, result: r.result })
    }
    const path = writeReport(opts.report, main, sweep, { wallMs: performance.now() - started, maxRssMB: process.resourceUsage().maxRSS / 1024 })
    out(`report written to ${path} (sweep over loads ${loads.join(', ')} with ${sweepQueries} queries each)`)
  }
  return main
}

/** Registers `ppai bench` on the program. */
export function registerBench (program: Command): void {
  program.command('bench')
    .description('simulate every routing policy on the same workload and print one table (paper | trace | scale)')
    .addOption(new Option('--scenario <name>', 'paper (one domain per owner) | subjects (three random subjects per owner) | trace | scale').default('paper'))
    .addOption(new Option('--embedder <space>', 'topics (one dimension per subject: a logistic regression of the subject on the TF-IDF words of the run\'s training split, with its subject labels) | lsa (an SVD of the training split, no labels) | hash (model-free hashed n-grams); default topics').choices(['topics', 'lsa', 'hash']))
    .option('--json <file>', 'write the results as JSON')
    .option('--seed <n>', 'random seed (same seed, same JSON)')
    .option('--agents <n>', 'number of agents')
    .option('--queries <n>', 'number of queries')
    .option('--load <x>', 'offered load: each owner\'s demand as a fraction of its device\'s capacity')
    .option('--churn', 'agents leave and join (default for every scenario)')
    .option('--no-churn', 'no churn')
    .option('--data <dir>', 'the mmlu-redux folder (else PPAI_DATA, else ../shared/data/mmlu-redux)')
    .option('--synthetic', 'use the built-in synthetic workload even when the data is present')
    .option('--policies <list>', `comma-separated subset of ${POLICY_NAMES.join(',')}`)
    .option('--report <dir>', 'write a Markdown report with SVG plots (runs a load sweep)')
    .option('--sweep <loads>', `loads of the report's sweep (default ${DEFAULT_SWEEP.join(',')})`)
    .option('--sweep-queries <n>', 'queries per sweep point (default min(queries, 10000))')
    .option('--no-progress', 'no progress bar on stderr')
    .option('--latency-weight <λ>', `utility lost per second of expected latency, for ppai's game (default ${DEFAULT_LATENCY_WEIGHT}, as on the node)`)
    .option('--kernel-near <cos>', 'experiment: the scoring kernel\'s half-weight cosine (default: the core\'s, as on the node)')
    .option('--kernel-temperature <t>', 'experiment: the scoring kernel\'s temperature (default: the core\'s)')
    .action(async (flags: Record<string, unknown>) => {
      // In a worker thread with a larger young generation (bench-thread.ts), else here.
      process.exitCode = await runBenchThread(flags) ?? await benchCommand(flags)
    })
}

/** What the command's output ends on, when it runs in a worker thread (whose stderr is a pipe). */
export interface BenchIo {
  stderrIsTTY?: boolean
}

/** The bench command: runs it and returns its exit code (2, with the reason on stderr, for bad options or data). */
export async function benchCommand (flags: Record<string, unknown>, io: BenchIo = {}): Promise<number> {
  try {
    await benchMain(flags, undefined, io)
    return 0
  } catch (err) {
    if (err instanceof BenchOptionsError || err instanceof DataError) {
      process.stderr.write(`ppai bench: ${err.message}\n`)
      return 2
    }
    throw err
  }
}
