/**
 * `ppai demo`: a real PPAI network on 127.0.0.1 — separate `ppai node`
 * processes, bootstrapped to the first, mDNS off, each with its own simulated
 * personal agent — driven through the nodes' HTTP APIs, once per policy, and
 * reported with the same table and JSON as `ppai bench`.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { SMALL_MODEL_DEFAULTS } from '../agent/skill-profile.js'
import { NamedError } from '../core/errors.js'
import { type BenchResult, headline, type PolicyResult } from '../results/metrics.js'
import { formatParams, formatTable } from '../results/table.js'
import { DEFAULT_LATENCY_WEIGHT } from '../core/router.js'
import type { PolicyName } from '../core/types.js'
import { loadQuestionSet, repoRoot, type QuestionSet } from '../data/questions.js'
import { atExit, Cluster } from './cluster.js'
import { formatDigest } from './decision-digest.js'
import { drivePolicy, type RunNotes } from './driver.js'
import { Progress } from './progress.js'
import { simulatedAgentArgs, writeSeedFiles } from './simulated-nodes.js'
import { formatSummary } from './summary.js'
import { DEFAULT_WORKLOAD, nodeName, planWorkload, writeSpaceFile, type DemoWorkload, type DemoWorkloadParams } from './workload.js'

export interface DemoOptions {
  nodes: number
  queries: number
  churn: boolean
  policies: PolicyName[]
  seed: number
  /** MMLU-Redux folder (else PPAI_DATA, else beside the repository, else synthetic). */
  data?: string
  /** Forces the built-in synthetic workload even when the data is present. */
  synthetic?: boolean
  /** Write the JSON result here. */
  json?: string
  /** Multiplies the simulated agents' service times. */
  timeScale: number
  /** Offered load per node. */
  load: number
  /** Mean time between departures under churn, ms. */
  churnEveryMs: number
  /** Owner tasks per node that seed its profile (training split). */
  seedTasks: number
  /** What owners care about: one MMLU domain each (default), or random subjects (the harder world). */
  interests?: DemoWorkloadParams['interests']
  /** Keep the nodes' folders and logs after the run. */
  keepDir?: boolean
  startTimeoutMs: number
  /** Waiting for the mesh and for profiles to spread, ms. */
  settleMs: number
  /** The built CLI the nodes run (default dist/cli.js of this checkout). */
  cliPath?: string
  quiet?: boolean
}

/** Policies a real node can run: all but the oracle, which needs the true state no node has. */
export const NODE_POLICIES: PolicyName[] = ['ppai', 'local-only', 'random', 'greedy', 'least-loaded', 'power-of-two']

export class DemoError extends NamedError {}

/** Runs the demo and returns its result; prints the table on `out` and progress on stderr. */
export async function runDemo (opts: DemoOptions, out: (s: string) => void = s => process.stdout.write(s)): Promise<{ result: BenchResult, notes: RunNotes[] }> {
  const cliPath = opts.cliPath ?? join(repoRoot, 'dist', 'cli.js')
  if (!existsSync(cliPath)) throw new DemoError(`${cliPath} is missing: build first (npm run build), or run \`npm run demo\`, which builds`)
  const progress = new Progress(process.stderr, opts.quiet === true)
  const set: QuestionSet = loadQuestionSet({ dataDir: opts.data, synthetic: opts.synthetic })
  // The file itself, which the nodes read as their --data too (any name, not only questions.jsonl).
  const dataDir = set.synthetic ? undefined : set.source
  const workloadParams: DemoWorkloadParams = {
    ...DEFAULT_WORKLOAD,
    nodes: opts.nodes,
    queries: opts.queries,
    seed: opts.seed,
    offeredLoad: opts.load,
    warmupPerNode: opts.seedTasks,
    interests: opts.interests ?? DEFAULT_WORKLOAD.interests,
    churnEveryMs: opts.churn ? opts.churnEveryMs : 0,
    service: { ...DEFAULT_WORKLOAD.service, timeScale: opts.timeScale }
  }
  const workload = planWorkload(set, workloadParams)
  const rootDir = mkdtempSync(join(tmpdir(), 'ppai-demo-'))
  const cancelRemoval = opts.keepDir === true ? () => undefined : atExit(() => rmSync(rootDir, { recursive: true, force: true }))
  progress.phase(`demo: ${opts.nodes} nodes on 127.0.0.1, ${workload.queries.length} queries per policy, policies ${opts.policies.join(', ')}; ${set.synthetic ? 'SYNTHETIC workload (no MMLU-Redux data found)' : `questions from ${set.source}`}; nodes' folders in ${rootDir}`)
  const seedFiles = writeSeedFiles(rootDir, workload)
  const spaceFile = writeSpaceFile(rootDir, workload)

  const results: PolicyResult[] = []
  const notes: RunNotes[] = []
  try {
    for (const policy of opts.policies) {
      const cluster = new Cluster({
        count: opts.nodes,
        cliPath,
        rootDir: join(rootDir, policy),
        startTimeoutMs: opts.startTimeoutMs,
        env: { ...process.env, PPAI_LOG: process.env.PPAI_DEMO_NODE_LOG ?? 'warn' },
        argsFor: (i, name, dir) => nodeArgs(i, name, dir, policy, workload, seedFiles[i], spaceFile, dataDir, opts)
      })
      try {
        progress.phase(`${policy}: starting ${opts.nodes} nodes`)
        const t0 = Date.now()
        await cluster.start()
        // Connected to a few peers is enough: the DHT finds the others.
        const wanted = Math.min(opts.nodes - 1, 3)
        let counts = await cluster.waitForPeers(wanted, opts.settleMs / 2)
        const isolated = await cluster.rejoinIsolated(counts)
        if (isolated.length > 0) {
          progress.note(`restarted ${isolated.length} node(s) that had found no peer: ${isolated.map(nodeName).join(', ')}`)
          counts = await cluster.waitForPeers(wanted, opts.settleMs / 2)
        }
        const minPeers = Math.min(...counts.filter(Number.isFinite))
        const silent = counts.filter(c => !Number.isFinite(c)).length
        progress.phase(`${policy}: nodes up in ${((Date.now() - t0) / 1000).toFixed(1)} s; every node sees ≥ ${minPeers} of ${opts.nodes - 1} peers${silent > 0 ? ` (${silent} did not answer the status poll)` : ''}`)
        const { result, notes: n } = await drivePolicy(cluster, workload, { policy, askTimeoutMs: 90_000, settleMs: opts.settleMs }, progress)
        n.minPeersAtStart = minPeers
        results.push(result)
        notes.push(n)
      } finally {
        await cluster.stop()
      }
    }
  } finally {
    cancelRemoval()
    if (opts.keepDir !== true) rmSync(rootDir, { recursive: true, force: true })
    else progress.note(`nodes' folders and logs kept in ${rootDir}`)
  }

  const params = demoParams(opts, set, workload)
  const result: BenchResult = { scenario: `demo (real libp2p network, ${opts.nodes} node processes on 127.0.0.1${opts.churn ? ', churn' : ''})`, synthetic: set.synthetic, params, results }
  const h = headline(results)
  if (h !== undefined) result.headline = h
  out(formatTable(result) + '\n')
  out('\nparameters:\n' + formatParams(params) + '\n')
  out('\nper run:\n' + notes.map(formatNotes).join('\n') + '\n')
  const file = opts.json != null ? resolve(opts.json) : undefined
  if (file != null) {
    mkdirSync(dirname(file), { recursive: true })
    writeFileSync(file, JSON.stringify({ ...result, runs: notes }, null, 2) + '\n')
  }
  // The last three lines say what ran, how ppai did and where the JSON went.
  out('\n' + formatSummary({ nodes: opts.nodes, queriesPerPolicy: workload.queries.length, churn: opts.churn, set, results, json: file }).join('\n') + '\n')
  return { result, notes }
}

function nodeArgs (i: number, name: string, dir: string, policy: PolicyName, workload: DemoWorkload, seedFile: string, spaceFile: string, dataDir: string | undefined, opts: DemoOptions): string[] {
  const args = [
    '--name', name,
    '--data-dir', join(dir, 'data'),
    '--host', '127.0.0.1',
    '--port', '0',
    '--api-port', '0',
    '--no-mdns',
    '--network', `ppai-demo-${opts.seed}`,
    '--policy', policy,
    ...simulatedAgentArgs(i, workload, seedFile, spaceFile, dataDir, { ...opts, logLevel: process.env.PPAI_DEMO_NODE_LOG ?? 'warn' }),
    // λ is per second of a real device; the demo's seconds are timeScale of those, so a demo second weighs 1/timeScale as much.
    '--latency-weight', String(demoLatencyWeight(opts.timeScale))
  ]
  if (name !== nodeName(i)) throw new DemoError(`node ${i} named ${name}, expected ${nodeName(i)}`)
  return args
}

/**
 * The nodes' λ per demo second: service times are scaled by `timeScale`, so
 * one demo second stands for 1/timeScale real seconds and the owner's
 * trade-off between accuracy and waiting stays the simulator's.
 */
export function demoLatencyWeight (timeScale: number): number {
  return DEFAULT_LATENCY_WEIGHT / Math.max(1e-6, timeScale)
}

function demoParams (opts: DemoOptions, set: QuestionSet, w: DemoWorkload): Record<string, unknown> {
  const p = w.params
  return {
    nodes: opts.nodes,
    queriesPerPolicy: w.queries.length,
    policies: opts.policies.join(','),
    seed: opts.seed,
    data: set.source,
    synthetic: set.synthetic,
    ...(set.synthetic ? { syntheticParams: set.syntheticParams } : {}),
    agent: 'simulated personal agent: expert model\'s recorded answers on owner subjects, small model elsewhere',
    ownerInterests: w.interestsSource,
    embedder: 'topic space fitted on the training split (question and options, subject labels), handed to every node as --embedder lsa:<file>',
    ownerSubjectCount: p.ownerSubjectCount,
    smallModelAccuracy: SMALL_MODEL_DEFAULTS.smallModelAccuracy,
    smallModelSubjectSpread: SMALL_MODEL_DEFAULTS.smallModelSubjectSpread,
    ownInterestShare: p.ownInterestShare,
    trainFraction: p.trainFraction,
    seedTasksPerNode: p.warmupPerNode,
    offeredLoadPerNode: p.offeredLoad,
    arrivalsPerNodePerSec: Number(w.ratePerNode.toFixed(3)),
    meanServiceMs: Number(w.meanServiceMs.toFixed(1)),
    burstFactor: p.burstFactor,
    burstFraction: p.burstFraction,
    meanBurstMs: p.meanBurstMs,
    prefillTokensPerSec: p.service.prefillTokensPerSec,
    outputTokens: p.service.outputTokens,
    tokensPerSec: p.service.tokensPerSec,
    timeScale: p.service.timeScale,
    latencyWeightPerRealSecond: DEFAULT_LATENCY_WEIGHT,
    latencyWeightPerDemoSecond: Number(demoLatencyWeight(p.service.timeScale).toFixed(4)),
    churn: opts.churn,
    churnEveryMs: p.churnEveryMs,
    churnDownMs: p.churnDownMs,
    churnDepartures: w.churn.length,
    owners: w.owners.map(o => `${o.name}: ${o.subjects.join('+')} (${o.expertModel})`).join('; '),
    latencyMeasured: 'driver wall clock, HTTP request to response, per query'
  }
}

function formatNotes (n: RunNotes): string {
  const errors = Object.entries(n.errors).map(([k, v]) => `${k}: ${v}`).join(', ')
  const failures = Object.entries(n.attemptErrors).sort((a, b) => b[1] - a[1]).slice(0, 4).map(([k, v]) => `${v}× ${k}`).join('; ')
  return `  ${n.policy}: run ${(n.runMs / 1000).toFixed(1)} s, peers at start ≥ ${n.minPeersAtStart}, profiles known to all others before the run ${n.profilesSeen}, departures ${n.departures}, rejoins ${n.rejoins}, skipped (owner away) ${n.skippedOwnerAway}, error responses ${errors === '' ? 0 : errors}, re-sent ${n.resent}, machine load avg ${n.loadAvg}` +
    `\n    mean ms per answer: HTTP ${n.timeSplitMs.http}, routing ${n.timeSplitMs.routing}, attempts (queue + service + network) ${n.timeSplitMs.attempts}` +
    (failures !== '' ? `\n    failed attempts: ${failures}` : '') +
    (n.decisions != null ? `\n    ${formatDigest(n.decisions)}` : '')
}
