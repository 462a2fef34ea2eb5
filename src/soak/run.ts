/**
 * `ppai soak`: a churn soak on a real network of `ppai node` processes on
 * 127.0.0.1 (the demo's process orchestration). Queries flow through the
 * nodes' HTTP APIs at the planned times while, every few seconds, a node is
 * killed (SIGKILL, as a device vanishes) and another one starts again. Every
 * query ends in one of three ways: answered, a clear error (an HTTP error
 * with a code, before the deadline), or lost (no reply by the deadline plus
 * a grace, or a connection cut) — the soak counts all three.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { SMALL_MODEL_DEFAULTS } from '../agent/skill-profile.js'
import { seededRng } from '../core/rng.js'
import { loadQuestionSet, repoRoot, type QuestionSet } from '../data/questions.js'
import { atExit, Cluster, sleepUntil } from '../demo/cluster.js'
import { simulatedAgentArgs, writeSeedFiles } from '../demo/simulated-nodes.js'
import { Progress } from '../demo/progress.js'
import { DEFAULT_WORKLOAD, planWorkload, writeSpaceFile, type DemoWorkload, type PlannedQuery } from '../demo/workload.js'
import { askOnce, formatKinds, type OutcomeFigures, outcomeFigures, type SoakOutcome } from './outcomes.js'

/** Every knob of a soak, printed with its figures. */
export interface SoakOptions {
  nodes: number
  /** Length of the query phase, minutes (fractions allowed). */
  minutes: number
  /** A node is killed and another started every this many ms. */
  churnEveryMs: number
  /** Offered load per node (arrival rate × mean service time). */
  load: number
  /** Multiplies the simulated agents' service times. */
  timeScale: number
  seed: number
  /** Owner training tasks per node that seed its profile. */
  seedTasks: number
  /** What owners care about: one MMLU domain each (default), or random subjects. */
  interests?: 'domains' | 'subjects'
  /** Queries in flight at once, at most; beyond it a planned query is skipped and counted. */
  maxInFlight: number
  /** The nodes' own whole-query deadline (their HTTP API's), ms: a clear error must come before it. */
  nodeDeadlineMs: number
  /** Grace after the deadline before a query with no reply is counted lost, ms. */
  lostGraceMs: number
  startTimeoutMs: number
  settleMs: number
  data?: string
  synthetic?: boolean
  json?: string
  cliPath?: string
  keepDir?: boolean
  quiet?: boolean
}

export const DEFAULT_SOAK: Omit<SoakOptions, 'nodes' | 'minutes'> = {
  churnEveryMs: 5_000,
  // 24 node processes share the machine's cores: about 2 queries/s in all at 24 nodes.
  load: 0.05,
  timeScale: 0.25,
  seed: 1,
  seedTasks: 60,
  maxInFlight: 64,
  // The node's HTTP API deadline (api/app.ts DEFAULT_REQUEST_TIMEOUT_MS).
  nodeDeadlineMs: 120_000,
  lostGraceMs: 10_000,
  startTimeoutMs: 60_000,
  settleMs: 30_000
}

/** The soak's figures. */
export interface SoakReport extends OutcomeFigures {
  synthetic: boolean
  params: Record<string, unknown>
  /** Planned queries not issued: their owner was away (killed) or too many were in flight. */
  skipped: { ownerAway: number, backpressure: number }
  accuracy: number
  kills: number
  starts: number
  failedStarts: number
  /** Nodes that exited without being killed, seen by the progress poll (every 5 s). */
  crashes: number
  runMs: number
  loadAvg: string
}

/** Runs a soak and returns its report; progress on stderr, summary on `out`. */
export async function runSoak (opts: SoakOptions, out: (s: string) => void = s => process.stdout.write(s)): Promise<SoakReport> {
  const cliPath = opts.cliPath ?? join(repoRoot, 'dist', 'cli.js')
  const progress = new Progress(process.stderr, opts.quiet === true)
  const set: QuestionSet = loadQuestionSet({ dataDir: opts.data, synthetic: opts.synthetic })
  // The file itself, which the nodes read as their --data too (any name, not only questions.jsonl).
  const dataDir = set.synthetic ? undefined : set.source
  const durationMs = Math.round(opts.minutes * 60_000)
  const workload = planWorkload(set, {
    ...DEFAULT_WORKLOAD,
    nodes: opts.nodes,
    // Enough planned arrivals to cover the run; those after it are dropped.
    queries: Math.ceil(opts.nodes * durationMs / 1000 * 5) + 100,
    seed: opts.seed,
    offeredLoad: opts.load,
    warmupPerNode: opts.seedTasks,
    interests: opts.interests ?? DEFAULT_WORKLOAD.interests,
    churnEveryMs: 0,
    service: { ...DEFAULT_WORKLOAD.service, timeScale: opts.timeScale }
  })
  const queries = workload.queries.filter(q => q.at < durationMs)
  const rootDir = mkdtempSync(join(tmpdir(), 'ppai-soak-'))
  const cancelRemoval = opts.keepDir === true ? () => undefined : atExit(() => rmSync(rootDir, { recursive: true, force: true }))
  const params = soakParams(opts, set, workload, queries.length)
  progress.phase(`soak: ${opts.nodes} nodes on 127.0.0.1, ${opts.minutes} min, a kill and a start every ${opts.churnEveryMs} ms, ${queries.length} queries planned (${(queries.length / (durationMs / 1000)).toFixed(2)}/s); ${set.synthetic ? 'SYNTHETIC workload (no MMLU-Redux data found)' : `questions from ${set.source}`}`)
  const seedFiles = writeSeedFiles(rootDir, workload)
  const spaceFile = writeSpaceFile(rootDir, workload)
  const cluster = new Cluster({
    count: opts.nodes,
    cliPath,
    rootDir,
    startTimeoutMs: opts.startTimeoutMs,
    env: { ...process.env, PPAI_LOG: process.env.PPAI_SOAK_NODE_LOG ?? 'warn' },
    argsFor: (i, name, dir) => nodeArgs(i, name, dir, workload, seedFiles[i], spaceFile, dataDir, opts)
  })
  let report: SoakReport
  try {
    progress.phase(`starting ${opts.nodes} nodes`)
    const t0 = Date.now()
    await cluster.start()
    const wanted = Math.min(opts.nodes - 1, 3)
    const counts = await cluster.waitForPeers(wanted, opts.settleMs)
    const isolated = await cluster.rejoinIsolated(counts)
    if (isolated.length > 0) {
      progress.note(`restarted ${isolated.length} node(s) that had found no peer`)
      await cluster.waitForPeers(wanted, opts.settleMs)
    }
    progress.phase(`nodes up in ${((Date.now() - t0) / 1000).toFixed(1)} s; running queries for ${opts.minutes} min under churn`)
    report = await drive(cluster, queries, opts, progress, set.synthetic, params)
  } finally {
    const t1 = Date.now()
    await cluster.stop()
    progress.note(`nodes stopped in ${((Date.now() - t1) / 1000).toFixed(1)} s`)
    cancelRemoval()
    if (opts.keepDir !== true) rmSync(rootDir, { recursive: true, force: true })
    else progress.note(`nodes' folders and logs kept in ${rootDir}`)
  }
  out(formatSoak(report))
  if (opts.json != null) {
    const file = resolve(opts.json)
    mkdirSync(dirname(file), { recursive: true })
    writeFileSync(file, JSON.stringify(report, null, 2) + '\n')
    out(`JSON written to ${file}\n`)
  }
  return report
}

/** The query phase: planned queries at their times, churn beside them, every outcome classified. */
async function drive (cluster: Cluster, queries: PlannedQuery[], opts: SoakOptions, progress: Progress, synthetic: boolean, params: Record<string, unknown>): Promise<SoakReport> {
  const n = cluster.nodes.length
  const outcomes: SoakOutcome[] = []
  const inFlight = Array.from({ length: n }, () => new Set<Promise<void>>())
  const away = new Array<boolean>(n).fill(false)
  const skipped = { ownerAway: 0, backpressure: 0 }
  const churnStats = { kills: 0, starts: 0, failedStarts: 0, crashes: 0 }
  const crashed = new Set<string>()
  let issued = 0
  let done = false
  const start = Date.now()
  const durationMs = Math.round(opts.minutes * 60_000)
  const loadAtStart = loadavg()[0]
  const inFlightCount = (): number => inFlight.reduce((s, set) => s + set.size, 0)

  // Churn: each tick starts again the node away longest and kills a random other (never node 0, the bootstrap peer), both in the
  // background so a slow start does not hold the next tick; at most a quarter of the nodes are away at once.
  const churnTasks = new Set<Promise<void>>()
  const background = (task: Promise<void>): void => {
    churnTasks.add(task)
    void task.finally(() => churnTasks.delete(task))
  }
  const churner = (async () => {
    const rng = seededRng(`${opts.seed}|soak-churn`)
    const down: number[] = []
    const maxAway = Math.max(1, Math.floor((n - 1) / 4))
    while (!done) {
      await sleepUntil(Date.now() + opts.churnEveryMs, () => done || Date.now() - start >= durationMs)
      if (done || Date.now() - start >= durationMs) break
      const back = down.shift()
      if (back != null) {
        background((async () => {
          try {
            await cluster.restart(back)
            churnStats.starts++
            progress.note(`${cluster.nodes[back].init.name} started again`)
          } catch (err) {
            churnStats.failedStarts++
            progress.note(`${cluster.nodes[back].init.name} failed to start: ${(err as Error).message.split('\n')[0]}`)
          }
          away[back] = false
        })())
      }
      if (away.filter(Boolean).length >= maxAway) continue
      const present = Array.from({ length: n - 1 }, (_, k) => k + 1).filter(k => !away[k] && cluster.nodes[k].running)
      if (present.length === 0) continue
      // Prefer a node whose owner has nothing in flight: it leaves at once, on schedule.
      const idle = present.filter(k => inFlight[k].size === 0)
      const pool = idle.length > 0 ? idle : present
      const victim = pool[Math.floor(rng() * pool.length)]
      away[victim] = true
      background((async () => {
        // The owner leaves once its own questions are answered (bounded by their deadline); what it serves for others is cut off.
        // The bounding timer is unref'd: it must not hold the process open once the soak is over.
        await Promise.race([Promise.allSettled([...inFlight[victim]]), new Promise(resolve => setTimeout(resolve, opts.nodeDeadlineMs + opts.lostGraceMs).unref())])
        await cluster.nodes[victim].kill()
        churnStats.kills++
        down.push(victim)
        progress.note(`${cluster.nodes[victim].init.name} killed`)
      })())
    }
    await Promise.allSettled([...churnTasks])
  })()

  const reporter = (async () => {
    while (!done) {
      await sleepUntil(Date.now() + 5_000, () => done)
      if (done) break
      // A node that is gone without being killed crashed: counted once per start.
      cluster.nodes.forEach((node, i) => {
        const key = `${i}:${node.starts}`
        if (!away[i] && !node.running && node.ready != null && !crashed.has(key)) {
          crashed.add(key)
          churnStats.crashes++
          progress.note(`${node.init.name} exited on its own (crash): ${node.logTail(3).replace(/\n/g, ' | ').slice(0, 300)}`)
        }
      })
      const ok = outcomes.filter(o => o.kind === 'answered').length
      const err = outcomes.filter(o => o.kind === 'error').length
      const lost = outcomes.filter(o => o.kind === 'lost').length
      progress.note(`${((Date.now() - start) / 1000).toFixed(0)} s: ${issued} issued, ${ok} answered, ${err} errors, ${lost} lost, ${inFlightCount()} in flight; ${away.filter(a => !a).length}/${n} nodes up; kills ${churnStats.kills}, starts ${churnStats.starts}`)
    }
  })()

  const ask = async (pq: PlannedQuery): Promise<void> => {
    const outcome = await askOnce(cluster.clients[pq.node], pq, opts)
    outcomes.push(outcome.outcome)
    if (outcome.answerId != null && outcome.outcome.kind === 'answered') {
      // The owner rates the answer, as the demo's users do (the driver knows the truth).
      await cluster.clients[pq.node].feedback(outcome.answerId, outcome.outcome.correct ? 1 : 0, 5_000).catch(() => undefined)
    }
  }

  for (const pq of queries) {
    await sleepUntil(start + pq.at)
    if (away[pq.node] || !cluster.nodes[pq.node].running) {
      skipped.ownerAway++
      continue
    }
    if (inFlightCount() >= opts.maxInFlight) {
      skipped.backpressure++
      continue
    }
    issued++
    const p = ask(pq)
    inFlight[pq.node].add(p)
    void p.finally(() => inFlight[pq.node].delete(p))
  }
  await sleepUntil(start + durationMs)
  progress.phase(`query phase over; waiting for ${inFlightCount()} queries in flight`)
  await Promise.allSettled(inFlight.flatMap(s => [...s]))
  const runMs = Date.now() - start
  done = true
  await Promise.all([churner, reporter])
  return summarise(outcomes, { issued, skipped, ...churnStats, runMs, synthetic, params, loadAvg: `${loadAtStart.toFixed(1)} → ${loadavg()[0].toFixed(1)} (${cpus().length} cores)` })
}

function summarise (outcomes: SoakOutcome[], run: { issued: number, skipped: SoakReport['skipped'], kills: number, starts: number, failedStarts: number, crashes: number, runMs: number, synthetic: boolean, params: Record<string, unknown>, loadAvg: string }): SoakReport {
  const answered = outcomes.filter((o): o is Extract<SoakOutcome, { kind: 'answered' }> => o.kind === 'answered')
  return {
    synthetic: run.synthetic,
    params: run.params,
    ...outcomeFigures(outcomes, run.issued),
    skipped: run.skipped,
    accuracy: answered.length === 0 ? 0 : answered.filter(o => o.correct).length / answered.length,
    kills: run.kills,
    starts: run.starts,
    failedStarts: run.failedStarts,
    crashes: run.crashes,
    runMs: run.runMs,
    loadAvg: run.loadAvg
  }
}

/** The summary printed at the end. */
export function formatSoak (s: SoakReport): string {
  const kinds = formatKinds
  const pct = (x: number): string => `${(100 * x).toFixed(2)}%`
  return [
    `ppai soak${s.synthetic ? ' (SYNTHETIC workload)' : ''}: ${s.params.nodes} nodes, ${(s.runMs / 1000).toFixed(1)} s, ${s.kills} kills, ${s.starts} starts (${s.failedStarts} failed), ${s.crashes} crashes`,
    `  queries issued ${s.issued}: answered ${s.answered} (${pct(s.answeredShare)}), clear errors ${s.errors} (${kinds(s.errorsByKind)}; after the deadline ${s.errorsAfterDeadline}), lost ${s.lost}${s.lost > 0 ? ` (${kinds(s.lostByWhy)})` : ''}`,
    `  latency of answered queries: p50 ${s.latencyMs.p50} ms, p95 ${s.latencyMs.p95} ms, p99 ${s.latencyMs.p99} ms, max ${s.latencyMs.max} ms`,
    `  answered after a fallback ${s.answeredAfterFallback}, by a peer ${s.answeredRemotely}, accuracy ${pct(s.accuracy)}`,
    `  not issued: owner away ${s.skipped.ownerAway}, too many in flight ${s.skipped.backpressure}; machine load avg ${s.loadAvg}`,
    '  parameters: ' + Object.entries(s.params).map(([k, v]) => `${k}=${String(v)}`).join(' '),
    ''
  ].join('\n')
}

function soakParams (opts: SoakOptions, set: QuestionSet, w: DemoWorkload, planned: number): Record<string, unknown> {
  return {
    nodes: opts.nodes,
    minutes: opts.minutes,
    churnEveryMs: opts.churnEveryMs,
    offeredLoadPerNode: opts.load,
    arrivalsPerNodePerSec: Number(w.ratePerNode.toFixed(3)),
    meanServiceMs: Number(w.meanServiceMs.toFixed(1)),
    timeScale: opts.timeScale,
    seedTasksPerNode: opts.seedTasks,
    maxInFlight: opts.maxInFlight,
    nodeDeadlineMs: opts.nodeDeadlineMs,
    lostGraceMs: opts.lostGraceMs,
    queriesPlanned: planned,
    seed: opts.seed,
    data: set.source,
    synthetic: set.synthetic,
    agent: 'simulated personal agent (expert model on owner subjects, small model elsewhere)',
    smallModelAccuracy: SMALL_MODEL_DEFAULTS.smallModelAccuracy
  }
}

function nodeArgs (i: number, name: string, dir: string, workload: DemoWorkload, seedFile: string, spaceFile: string, dataDir: string | undefined, opts: SoakOptions): string[] {
  return [
    '--name', name,
    '--data-dir', join(dir, 'data'),
    '--host', '127.0.0.1',
    '--port', '0',
    '--api-port', '0',
    '--no-mdns',
    '--network', `ppai-soak-${opts.seed}`,
    ...simulatedAgentArgs(i, workload, seedFile, spaceFile, dataDir, { ...opts, logLevel: process.env.PPAI_SOAK_NODE_LOG ?? 'warn' })
  ]
}
