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
import { request as httpRequest } from 'node:http'
import { cpus, loadavg, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { correctLetter, formatQuestion, parseAnswerLetter } from '../agent/question-prompt.js'
import { skillProfile, SMALL_MODEL_DEFAULTS } from '../agent/skill-profile.js'
import { quantile } from '../results/metrics.js'
import { seededRng } from '../core/rng.js'
import { loadQuestionSet, repoRoot, type QuestionSet } from '../data/questions.js'
import { apiErrorSchema, chatCompletionSchema } from '../demo/api-wire.js'
import { atExit, Cluster, sleep } from '../demo/cluster.js'
import { NodeClient } from '../demo/node-client.js'
import { Progress } from '../demo/progress.js'
import { DEFAULT_WORKLOAD, planWorkload, writeSpaceFile, type DemoWorkload, type PlannedQuery } from '../demo/workload.js'

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

/** How one query ended. */
export type SoakOutcome = { kind: 'answered', latencyMs: number, attempts: number, remote: boolean, correct: boolean } |
{ kind: 'error', code: string, latencyMs: number, beforeDeadline: boolean } |
{ kind: 'lost', why: string, latencyMs: number }

/** The soak's figures. */
export interface SoakReport {
  synthetic: boolean
  params: Record<string, unknown>
  issued: number
  answered: number
  answeredShare: number
  errors: number
  /** Errors by kind (the node's error code, or `http-<status>`). */
  errorsByKind: Record<string, number>
  errorsAfterDeadline: number
  lost: number
  lostByWhy: Record<string, number>
  /** Planned queries not issued: their owner was away (killed) or too many were in flight. */
  skipped: { ownerAway: number, backpressure: number }
  latencyMs: { p50: number, p95: number, p99: number, max: number }
  /** Answered queries that needed a fallback (more than one attempt). */
  answeredAfterFallback: number
  /** Answered by a peer rather than the asker's own agent. */
  answeredRemotely: number
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

/** One query through a node's HTTP API (model `ppai` unless told), classified. */
export async function askOnce (client: NodeClient, pq: PlannedQuery, opts: Pick<SoakOptions, 'nodeDeadlineMs' | 'lostGraceMs'>, ask: { model?: string, token?: string } = {}): Promise<{ outcome: SoakOutcome, answerId?: string }> {
  const url = client.baseUrl.replace(/\/$/, '') + '/v1/chat/completions'
  const t0 = performance.now()
  const signal = AbortSignal.timeout(opts.nodeDeadlineMs + opts.lostGraceMs)
  let res: { status: number, ok: boolean }
  let text: string
  try {
    ;({ res, text } = await postJson(url, { model: ask.model ?? 'ppai', messages: [{ role: 'user', content: formatQuestion(pq.question) }] }, signal, ask.token))
  } catch (err) {
    const latencyMs = performance.now() - t0
    if (signal.aborted) return { outcome: { kind: 'lost', why: 'no reply by the deadline', latencyMs } }
    const cause = (err as { code?: string }).code ?? (err as Error).name
    return { outcome: { kind: 'lost', why: `connection: ${cause}`, latencyMs } }
  }
  const latencyMs = performance.now() - t0
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return { outcome: { kind: 'error', code: `http-${res.status}-not-json`, latencyMs, beforeDeadline: latencyMs <= opts.nodeDeadlineMs } }
  }
  if (!res.ok) {
    const e = apiErrorSchema.safeParse(json)
    const code = e.success && e.data.error.code != null ? String(e.data.error.code) : `http-${res.status}`
    return { outcome: { kind: 'error', code, latencyMs, beforeDeadline: latencyMs <= opts.nodeDeadlineMs } }
  }
  const parsed = chatCompletionSchema.safeParse(json)
  if (!parsed.success) return { outcome: { kind: 'error', code: 'malformed-answer', latencyMs, beforeDeadline: true } }
  const a = parsed.data
  const correct = parseAnswerLetter(a.choices[0].message.content ?? '') === correctLetter(pq.question)
  return {
    outcome: { kind: 'answered', latencyMs, attempts: a.ppai.attempts.length, remote: a.ppai.servedBy !== 'local', correct },
    answerId: a.ppai.id
  }
}

/**
 * POST on a fresh TCP connection (no keep-alive pool): a pooled idle socket
 * that the node closes just as it is reused would show as a reset here
 * without anything being wrong with the node.
 */
async function postJson (url: string, body: unknown, signal: AbortSignal, token?: string): Promise<{ res: { status: number, ok: boolean }, text: string }> {
  const payload = JSON.stringify(body)
  const headers: Record<string, string | number> = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
  if (token != null) headers.authorization = `Bearer ${token}`
  return await new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', agent: false, signal, headers }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ res: { status: res.statusCode ?? 0, ok: (res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300 }, text: Buffer.concat(chunks).toString('utf8') }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(payload)
  })
}

/** What every run of queries reports (soak and LAN): shares, errors and losses by kind, latencies of the answered. */
export function outcomeFigures (outcomes: SoakOutcome[], issued: number): Pick<SoakReport, 'issued' | 'answered' | 'answeredShare' | 'errors' | 'errorsByKind' | 'errorsAfterDeadline' | 'lost' | 'lostByWhy' | 'latencyMs' | 'answeredAfterFallback' | 'answeredRemotely'> {
  const answered = outcomes.filter((o): o is Extract<SoakOutcome, { kind: 'answered' }> => o.kind === 'answered')
  const errors = outcomes.filter((o): o is Extract<SoakOutcome, { kind: 'error' }> => o.kind === 'error')
  const lost = outcomes.filter((o): o is Extract<SoakOutcome, { kind: 'lost' }> => o.kind === 'lost')
  const tally = (keys: string[]): Record<string, number> => keys.reduce<Record<string, number>>((acc, k) => { acc[k] = (acc[k] ?? 0) + 1; return acc }, {})
  const lat = answered.map(o => o.latencyMs).sort((a, b) => a - b)
  const r = (x: number): number => Math.round(x)
  return {
    issued,
    answered: answered.length,
    answeredShare: issued === 0 ? 0 : answered.length / issued,
    errors: errors.length,
    errorsByKind: tally(errors.map(e => e.code)),
    errorsAfterDeadline: errors.filter(e => !e.beforeDeadline).length,
    lost: lost.length,
    lostByWhy: tally(lost.map(l => l.why)),
    latencyMs: { p50: r(quantile(lat, 0.5)), p95: r(quantile(lat, 0.95)), p99: r(quantile(lat, 0.99)), max: r(lat.at(-1) ?? NaN) },
    answeredAfterFallback: answered.filter(o => o.attempts > 1).length,
    answeredRemotely: answered.filter(o => o.remote).length
  }
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

/** Outcomes by kind, most frequent first, for the summaries. */
export function formatKinds (o: Record<string, number>): string {
  return Object.keys(o).length === 0 ? 'none' : Object.entries(o).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ')
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

/** Each node's seed tasks: its owner's training questions and how its own agent does on them. */
export function writeSeedFiles (rootDir: string, workload: DemoWorkload): string[] {
  return workload.owners.map((owner, i) => {
    const model = skillProfile({ agentId: owner.name, ownerSubjects: owner.subjects, expertModel: owner.expertModel, ...SMALL_MODEL_DEFAULTS, seed: workload.params.seed })
    const file = join(rootDir, `${owner.name}.seed.json`)
    writeFileSync(file, JSON.stringify(workload.warmup[i].map(q => ({ question: formatQuestion(q), outcome: model.correct(q) ? 1 : 0 }))))
    return file
  })
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
    ...simulatedAgentArgs(i, workload, seedFile, spaceFile, dataDir, opts)
  ]
}

/** The arguments of `ppai node` that make node `i` the simulated personal agent of its owner in the workload (soak and LAN). */
export function simulatedAgentArgs (i: number, workload: DemoWorkload, seedFile: string, spaceFile: string, dataDir: string | undefined, opts: { seed: number, timeScale: number }): string[] {
  const owner = workload.owners[i]
  return [
    '--backend', 'simulated',
    '--owner-subjects', owner.subjects.join(','),
    '--expert-model', owner.expertModel,
    '--sim-seed', String(opts.seed),
    '--time-scale', String(opts.timeScale),
    '--seed-file', seedFile,
    '--embedder', `lsa:${spaceFile}`,
    '--log-level', process.env.PPAI_SOAK_NODE_LOG ?? 'warn',
    '--data', dataDir ?? 'synthetic'
  ]
}

export async function sleepUntil (t: number, cancelled?: () => boolean): Promise<void> {
  while (true) {
    const left = t - Date.now()
    if (left <= 0 || cancelled?.() === true) return
    await sleep(Math.min(left, 250))
  }
}
