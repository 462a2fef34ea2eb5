/**
 * `ppai lan`: `ppai node` processes, each on its own host of a LAN made of
 * network namespaces on this machine (netns.ts), with no bootstrap list: they
 * find each other by mDNS and the DHT alone. Owners' queries flow at the
 * offered load of the benchmark (bursty Poisson, as the demo and the soak
 * plan them) through each node's HTTP API, half routed by ppai and half
 * answered local-only, while faults follow one another every few seconds:
 * one host's link down and up, a group split from the rest and healed, node
 * processes killed and started. Every query ends answered, with a clear
 * error before its deadline, or lost; after each heal and restart the time
 * until the nodes see their peers again is measured.
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { SMALL_MODEL_DEFAULTS } from '../agent/skill-profile.js'
import { seededRng } from '../core/rng.js'
import { loadQuestionSet, repoRoot, type QuestionSet } from '../data/questions.js'
import { atExit, Cluster, sleepUntil } from '../demo/cluster.js'
import { simulatedAgentArgs, writeSeedFiles } from '../demo/simulated-nodes.js'
import { Progress } from '../demo/progress.js'
import { DEFAULT_WORKLOAD, planWorkload, writeSpaceFile, type PlannedQuery } from '../demo/workload.js'
import { quantile } from '../results/metrics.js'
import { askOnce, formatKinds, type OutcomeFigures, outcomeFigures, type SoakOutcome } from '../soak/outcomes.js'
import { lanLeftovers, NamespaceLan, removeLeftovers } from './netns.js'

export interface LanOptions {
  hosts: number
  minutes: number
  /** Offered load per node (arrival rate × mean service time), with bursts. */
  load: number
  /** Multiplies the simulated agents' service times (1 = a real small device, about 2 s a query). */
  timeScale: number
  seed: number
  seedTasks: number
  /** One fault step (a link down, up, a split, a heal, kills, starts) every this many ms. */
  faultEveryMs: number
  maxInFlight: number
  nodeDeadlineMs: number
  lostGraceMs: number
  startTimeoutMs: number
  /** Longest wait for the first discovery of every peer, ms. */
  settleMs: number
  data?: string
  synthetic?: boolean
  json?: string
  cliPath?: string
  quiet?: boolean
}

export const DEFAULT_LAN: Omit<LanOptions, 'hosts' | 'minutes'> = {
  load: 0.7,
  timeScale: 1,
  seed: 1,
  seedTasks: 60,
  faultEveryMs: 10_000,
  maxInFlight: 256,
  // The node's HTTP API deadline (api/app.ts DEFAULT_REQUEST_TIMEOUT_MS).
  nodeDeadlineMs: 120_000,
  lostGraceMs: 10_000,
  startTimeoutMs: 60_000,
  settleMs: 60_000
}

/** The fault steps, in the order they repeat. */
const STEPS = ['link-down', 'link-up', 'split', 'heal', 'kill', 'restart'] as const
type Step = typeof STEPS[number]

export interface FaultEvent {
  step: Step
  hosts: number[]
  atMs: number
  /** After a link-up or heal: the peers each host concerned still had connected just before (libp2p keeps a connection through a short outage). */
  peersBeforeHeal?: number[]
  /** Whether the fault cost a host concerned some of its connections (else they lived through it and nothing had to be rediscovered). */
  connectionsLost?: boolean
  /** After a link-up, heal or restart: ms until the hosts concerned saw as many peers as before the fault (null: not within the wait). */
  rediscoveredMs?: number | null
}

type Answered = Extract<SoakOutcome, { kind: 'answered' }>

export interface LanReport extends OutcomeFigures {
  synthetic: boolean
  params: Record<string, unknown>
  /** ms from the last start until every node saw every other (mDNS and DHT only). */
  initialDiscoveryMs: number | null
  skipped: { ownerAway: number, backpressure: number }
  /** Accuracy of the answered queries, by how they were asked (the same owners, the same network, the same faults). */
  accuracy: { ppai: number, ppaiAnswered: number, localOnly: number, localAnswered: number }
  faults: { linkDowns: number, splits: number, kills: number, starts: number, failedStarts: number }
  rediscoveryMs: Record<'link-up' | 'heal' | 'restart', { count: number, p50: number, max: number, notWithinWait: number, connectionsLost: number }>
  events: FaultEvent[]
  /** Namespaces, veths and bridges of this run found after its clean-up (must be none). */
  leftovers: string[]
  runMs: number
  loadAvg: string
}

/** Runs the LAN soak; progress on stderr, summary on `out`. The caller checked that namespaces can be made (lanUnavailable). */
export async function runLan (opts: LanOptions, out: (s: string) => void = s => process.stdout.write(s)): Promise<LanReport> {
  const cliPath = opts.cliPath ?? join(repoRoot, 'dist', 'cli.js')
  const progress = new Progress(process.stderr, opts.quiet === true)
  // Leftovers of a driver that died (a SIGKILL leaves no chance to clean up) go first.
  const stale = removeLeftovers()
  if (stale.length > 0) progress.note(`removed ${stale.length} leftovers of an earlier run: ${stale.join(' ')}`)
  const set: QuestionSet = loadQuestionSet({ dataDir: opts.data, synthetic: opts.synthetic })
  const dataDir = set.synthetic ? undefined : set.source
  const durationMs = Math.round(opts.minutes * 60_000)
  const workload = planWorkload(set, {
    ...DEFAULT_WORKLOAD,
    nodes: opts.hosts,
    queries: Math.ceil(opts.hosts * durationMs / 1000 * 5) + 100,
    seed: opts.seed,
    offeredLoad: opts.load,
    warmupPerNode: opts.seedTasks,
    churnEveryMs: 0,
    service: { ...DEFAULT_WORKLOAD.service, timeScale: opts.timeScale }
  })
  const queries = workload.queries.filter(q => q.at < durationMs)
  const lan = new NamespaceLan(opts.hosts)
  const cancelLan = atExit(() => lan.destroy())
  const rootDir = mkdtempSync(join(tmpdir(), 'ppai-lan-'))
  const cancelRemoval = atExit(() => rmSync(rootDir, { recursive: true, force: true }))
  const token = randomBytes(16).toString('hex')
  const params = {
    hosts: opts.hosts,
    minutes: opts.minutes,
    offeredLoadPerNode: opts.load,
    arrivalsPerNodePerSec: Number(workload.ratePerNode.toFixed(3)),
    meanServiceMs: Number(workload.meanServiceMs.toFixed(1)),
    timeScale: opts.timeScale,
    faultEveryMs: opts.faultEveryMs,
    queriesPlanned: queries.length,
    lan: `${lan.subnet} on bridge ${lan.bridge}, namespaces ${lan.hosts[0].namespace}…`,
    discovery: 'mDNS and the DHT only (no bootstrap list)',
    nodeDeadlineMs: opts.nodeDeadlineMs,
    seed: opts.seed,
    data: set.source,
    synthetic: set.synthetic,
    smallModelAccuracy: SMALL_MODEL_DEFAULTS.smallModelAccuracy
  }
  progress.phase(`lan: ${opts.hosts} hosts in network namespaces on ${lan.subnet}, ${opts.minutes} min, load ${opts.load} per node with bursts (${queries.length} queries planned, ${(queries.length / (durationMs / 1000)).toFixed(2)}/s), a fault step every ${opts.faultEveryMs} ms; ${set.synthetic ? 'SYNTHETIC workload (no MMLU-Redux data found)' : `questions from ${set.source}`}`)
  let report: LanReport | undefined
  let cluster: Cluster | undefined
  try {
    lan.create()
    const seedFiles = writeSeedFiles(rootDir, workload)
    const spaceFile = writeSpaceFile(rootDir, workload)
    cluster = new Cluster({
      count: opts.hosts,
      cliPath,
      rootDir,
      startTimeoutMs: opts.startTimeoutMs,
      env: { ...process.env, PPAI_LOG: process.env.PPAI_SOAK_NODE_LOG ?? 'warn' },
      wrapFor: i => lan.wrap(i),
      apiToken: token,
      argsFor: (i, name, dir) => [
        '--name', name,
        '--data-dir', join(dir, 'data'),
        '--host', lan.hosts[i].lanAddress,
        '--port', '4001',
        '--api-host', lan.hosts[i].mgmtAddress,
        '--api-port', '8470',
        '--api-token', token,
        '--network', `ppai-lan-${process.pid}`,
        ...simulatedAgentArgs(i, workload, seedFiles[i], spaceFile, dataDir, { ...opts, logLevel: process.env.PPAI_SOAK_NODE_LOG ?? 'warn' })
      ]
    })
    progress.phase(`starting ${opts.hosts} nodes, one per namespace, no bootstrap list`)
    const c = cluster
    await Promise.all(c.nodes.map(async (_, i) => { await sleepUntil(Date.now() + 200 * i); await c.startWith(i, []) }))
    const t0 = Date.now()
    const counts = await c.waitForPeers(opts.hosts - 1, opts.settleMs)
    const initialDiscoveryMs = counts.every(n => n >= opts.hosts - 1) ? Date.now() - t0 : null
    progress.phase(initialDiscoveryMs != null
      ? `every node sees all ${opts.hosts - 1} others after ${(initialDiscoveryMs / 1000).toFixed(1)} s; queries for ${opts.minutes} min under faults`
      : `after ${opts.settleMs} ms the nodes see ${counts.join(',')} peers; queries for ${opts.minutes} min under faults`)
    report = await drive(c, lan, queries, opts, progress, { synthetic: set.synthetic, params, initialDiscoveryMs })
  } finally {
    await cluster?.stop()
    lan.destroy()
    cancelLan()
    cancelRemoval()
    rmSync(rootDir, { recursive: true, force: true })
  }
  if (report == null) throw new Error('the LAN run ended without a report')
  const { namespaces, links } = lanLeftovers()
  report.leftovers = [...namespaces, ...links].filter(n => n.includes(String(process.pid)))
  out(formatLan(report))
  if (opts.json != null) {
    const file = resolve(opts.json)
    mkdirSync(dirname(file), { recursive: true })
    writeFileSync(file, JSON.stringify(report, null, 2) + '\n')
    out(`JSON written to ${file}\n`)
  }
  return report
}

async function peerCounts (cluster: Cluster): Promise<number[]> {
  return await Promise.all(cluster.clients.map(async (c, i) => {
    if (!cluster.nodes[i].running) return -1
    try {
      return (await c.status(3_000)).peers
    } catch {
      return Number.NaN
    }
  }))
}

async function drive (cluster: Cluster, lan: NamespaceLan, queries: PlannedQuery[], opts: LanOptions, progress: Progress, run: { synthetic: boolean, params: Record<string, unknown>, initialDiscoveryMs: number | null }): Promise<LanReport> {
  const n = cluster.nodes.length
  const outcomes: Array<{ model: 'ppai' | 'local', outcome: SoakOutcome }> = []
  const inFlight = new Set<Promise<void>>()
  const ownersInFlight = Array.from({ length: n }, () => new Set<Promise<void>>())
  const away = new Array<boolean>(n).fill(false)
  const skipped = { ownerAway: 0, backpressure: 0 }
  const faults = { linkDowns: 0, splits: 0, kills: 0, starts: 0, failedStarts: 0 }
  const events: FaultEvent[] = []
  const measurements = new Set<Promise<void>>()
  const durationMs = Math.round(opts.minutes * 60_000)
  const start = Date.now()
  const loadAtStart = loadavg()[0]
  const rng = seededRng(`${opts.seed}|lan-faults`)
  let done = false
  let issued = 0

  /** Waits until each of `hosts` sees at least its count before the fault (bounded), and notes the time on the event. */
  const measure = (ev: FaultEvent, before: number[]): void => {
    const t = Date.now()
    const p = (async () => {
      const deadline = t + Math.max(30_000, 3 * opts.faultEveryMs)
      while (Date.now() < deadline) {
        const now = await peerCounts(cluster)
        const running = now.filter(c => c >= 0).length
        if (ev.hosts.every(h => now[h] >= Math.min(before[h], running - 1))) {
          ev.rediscoveredMs = Date.now() - t
          progress.note(`${ev.step} of ${ev.hosts.map(h => cluster.nodes[h].init.name).join(',')}: peers back after ${((Date.now() - t) / 1000).toFixed(1)} s`)
          return
        }
        await sleepUntil(Date.now() + 250)
      }
      ev.rediscoveredMs = null
      progress.note(`${ev.step} of ${ev.hosts.join(',')}: peers not back within ${((deadline - t) / 1000).toFixed(0)} s`)
    })()
    measurements.add(p)
  }

  const faulter = (async () => {
    let step = 0
    let target: number[] = []
    let before: number[] = []
    while (true) {
      await sleepUntil(Date.now() + opts.faultEveryMs, () => Date.now() - start >= durationMs - opts.faultEveryMs / 2)
      if (Date.now() - start >= durationMs - opts.faultEveryMs / 2) break
      const kind = STEPS[step % STEPS.length]
      step++
      const ev: FaultEvent = { step: kind, hosts: [], atMs: Date.now() - start }
      if (kind === 'kill' && away.some(Boolean)) {
        // Hosts still away (a start failed) are tried again before others go.
        await restart({ ...ev, step: 'restart', hosts: away.map((a, i) => a ? i : -1).filter(i => i >= 0) }, before)
      }
      if (kind === 'link-down' || kind === 'split' || kind === 'kill') {
        before = await peerCounts(cluster)
        const size = kind === 'link-down' ? 1 : Math.max(1, Math.floor(n / (kind === 'split' ? 3 : 6)))
        target = pick(n, size, rng)
      }
      ev.hosts = target
      if (kind === 'link-down') {
        lan.setLink(target[0], false)
        faults.linkDowns++
      } else if (kind === 'link-up') {
        ev.peersBeforeHeal = (await peerCounts(cluster)).filter((_, i) => target.includes(i))
        ev.connectionsLost = ev.peersBeforeHeal.some((c, k) => c < before[target[k]])
        lan.setLink(target[0], true)
        measure(ev, before)
      } else if (kind === 'split') {
        lan.split(target)
        faults.splits++
      } else if (kind === 'heal') {
        ev.peersBeforeHeal = (await peerCounts(cluster)).filter((_, i) => target.includes(i))
        ev.connectionsLost = ev.peersBeforeHeal.some((c, k) => c < before[target[k]])
        lan.heal()
        measure(ev, before)
      } else if (kind === 'kill') {
        for (const h of target) away[h] = true
        // The owner leaves once its own questions are answered (bounded by their deadline); what it serves for others is cut off.
        // The bounding timer is unref'd: it must not hold the process open once the run is over.
        await Promise.race([Promise.allSettled(target.flatMap(h => [...ownersInFlight[h]])), new Promise(resolve => setTimeout(resolve, opts.nodeDeadlineMs + opts.lostGraceMs).unref())])
        await Promise.all(target.map(async h => await cluster.nodes[h].kill()))
        faults.kills += target.length
      } else {
        await restart(ev, before)
      }
      events.push(ev)
      progress.note(`${(ev.atMs / 1000).toFixed(0)} s: ${kind} ${ev.hosts.map(h => cluster.nodes[h].init.name).join(',')}`)
    }
    // Whatever step the schedule stopped at, the network ends whole: links up, hosts on one bridge, killed nodes started (measured too).
    lan.heal()
    const down = away.map((a, i) => a ? i : -1).filter(i => i >= 0)
    if (down.length > 0) {
      const ev: FaultEvent = { step: 'restart', hosts: down, atMs: Date.now() - start }
      await restart(ev, before)
      events.push(ev)
    }
  })()

  /** Starts the killed hosts' nodes again (no bootstrap list) and measures their rediscovery. */
  async function restart (ev: FaultEvent, before: number[]): Promise<void> {
    const results = await Promise.allSettled(ev.hosts.map(async h => await cluster.startWith(h, [])))
    results.forEach((r, k) => {
      if (r.status === 'fulfilled') {
        faults.starts++
        away[ev.hosts[k]] = false
      } else {
        faults.failedStarts++
        progress.note(`${cluster.nodes[ev.hosts[k]].init.name} failed to start: ${(r.reason as Error).message.split('\n')[0]}`)
        // A start that timed out may still be running: it is stopped, and the host stays away (its owner asks nothing).
        void cluster.nodes[ev.hosts[k]].kill()
      }
    })
    measure(ev, before)
  }

  const reporter = (async () => {
    while (!done) {
      await sleepUntil(Date.now() + 10_000, () => done)
      if (done) break
      const ok = outcomes.filter(o => o.outcome.kind === 'answered').length
      const err = outcomes.filter(o => o.outcome.kind === 'error').length
      const lost = outcomes.filter(o => o.outcome.kind === 'lost').length
      progress.note(`${((Date.now() - start) / 1000).toFixed(0)} s: ${issued} issued, ${ok} answered, ${err} errors, ${lost} lost, ${inFlight.size} in flight`)
    }
  })()

  const modelRng = seededRng(`${opts.seed}|lan-models`)
  for (const pq of queries) {
    await sleepUntil(start + pq.at)
    // Drawn for every planned query, so the split does not depend on which were skipped.
    const model = modelRng() < 0.5 ? 'ppai' : 'local'
    if (away[pq.node] || !cluster.nodes[pq.node].running) {
      skipped.ownerAway++
      continue
    }
    if (inFlight.size >= opts.maxInFlight) {
      skipped.backpressure++
      continue
    }
    issued++
    const client = cluster.clients[pq.node]
    const p = (async () => {
      const r = await askOnce(client, pq, opts, { model, token: client.token })
      outcomes.push({ model, outcome: r.outcome })
      if (r.answerId != null && r.outcome.kind === 'answered') await client.feedback(r.answerId, r.outcome.correct ? 1 : 0, 5_000).catch(() => undefined)
    })()
    inFlight.add(p)
    ownersInFlight[pq.node].add(p)
    void p.finally(() => { inFlight.delete(p); ownersInFlight[pq.node].delete(p) })
  }
  await sleepUntil(start + durationMs)
  await faulter
  progress.phase(`query phase over; waiting for ${inFlight.size} queries in flight and ${measurements.size} rediscovery measurements`)
  await Promise.allSettled([...inFlight, ...measurements])
  done = true
  await reporter
  return summarise(outcomes, { ...run, issued, skipped, faults, events, runMs: Date.now() - start, loadAvg: `${loadAtStart.toFixed(1)} → ${loadavg()[0].toFixed(1)} (${cpus().length} cores)` })
}

/** `size` distinct hosts at random. */
function pick (n: number, size: number, rng: () => number): number[] {
  const all = Array.from({ length: n }, (_, i) => i)
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1))
    ;[all[i], all[j]] = [all[j], all[i]]
  }
  return all.slice(0, Math.min(size, n - 1)).sort((a, b) => a - b)
}

function summarise (outcomes: Array<{ model: 'ppai' | 'local', outcome: SoakOutcome }>, run: { synthetic: boolean, params: Record<string, unknown>, initialDiscoveryMs: number | null, issued: number, skipped: LanReport['skipped'], faults: LanReport['faults'], events: FaultEvent[], runMs: number, loadAvg: string }): LanReport {
  const answered = outcomes.filter((o): o is { model: 'ppai' | 'local', outcome: Answered } => o.outcome.kind === 'answered')
  const acc = (model: 'ppai' | 'local'): [number, number] => {
    const of = answered.filter(o => o.model === model)
    return [of.length === 0 ? 0 : of.filter(o => o.outcome.correct).length / of.length, of.length]
  }
  const [ppai, ppaiAnswered] = acc('ppai')
  const [localOnly, localAnswered] = acc('local')
  const rediscovery = (step: 'link-up' | 'heal' | 'restart'): LanReport['rediscoveryMs']['heal'] => {
    const evs = run.events.filter(e => e.step === step)
    const ms = evs.map(e => e.rediscoveredMs).filter((x): x is number => x != null).sort((a, b) => a - b)
    return { count: evs.length, p50: Math.round(quantile(ms, 0.5)), max: Math.round(ms.at(-1) ?? NaN), notWithinWait: evs.filter(e => e.rediscoveredMs === null).length, connectionsLost: evs.filter(e => e.connectionsLost === true || e.step === 'restart').length }
  }
  return {
    synthetic: run.synthetic,
    params: run.params,
    initialDiscoveryMs: run.initialDiscoveryMs,
    ...outcomeFigures(outcomes.map(o => o.outcome), run.issued),
    skipped: run.skipped,
    accuracy: { ppai, ppaiAnswered, localOnly, localAnswered },
    faults: run.faults,
    rediscoveryMs: { 'link-up': rediscovery('link-up'), heal: rediscovery('heal'), restart: rediscovery('restart') },
    events: run.events,
    leftovers: [],
    runMs: run.runMs,
    loadAvg: run.loadAvg
  }
}

/** The summary printed at the end. */
export function formatLan (s: LanReport): string {
  const kinds = formatKinds
  const pct = (x: number): string => `${(100 * x).toFixed(2)}%`
  const red = (x: LanReport['rediscoveryMs']['heal']): string => x.count === 0 ? 'none' : `${x.count} (connections lost in ${x.connectionsLost}), p50 ${x.p50} ms, max ${x.max} ms${x.notWithinWait > 0 ? `, ${x.notWithinWait} not within the wait` : ''}`
  return [
    `ppai lan${s.synthetic ? ' (SYNTHETIC workload)' : ''}: ${s.params.hosts} hosts in network namespaces, ${(s.runMs / 1000).toFixed(1)} s, load ${String(s.params.offeredLoadPerNode)} per node; first discovery (mDNS + DHT) ${s.initialDiscoveryMs == null ? 'incomplete' : `${(s.initialDiscoveryMs / 1000).toFixed(1)} s`}`,
    `  faults: ${s.faults.linkDowns} link downs, ${s.faults.splits} group splits, ${s.faults.kills} kills, ${s.faults.starts} starts (${s.faults.failedStarts} failed)`,
    `  peers back after a link up: ${red(s.rediscoveryMs['link-up'])}; after a heal: ${red(s.rediscoveryMs.heal)}; after a restart: ${red(s.rediscoveryMs.restart)}`,
    `  queries issued ${s.issued}: answered ${s.answered} (${pct(s.answeredShare)}), clear errors ${s.errors} (${kinds(s.errorsByKind)}; after the deadline ${s.errorsAfterDeadline}), lost ${s.lost}${s.lost > 0 ? ` (${kinds(s.lostByWhy)})` : ''}`,
    `  latency of answered queries: p50 ${s.latencyMs.p50} ms, p95 ${s.latencyMs.p95} ms, p99 ${s.latencyMs.p99} ms, max ${s.latencyMs.max} ms; by a peer ${s.answeredRemotely}, after a fallback ${s.answeredAfterFallback}`,
    `  accuracy: ppai ${pct(s.accuracy.ppai)} of ${s.accuracy.ppaiAnswered}, local-only ${pct(s.accuracy.localOnly)} of ${s.accuracy.localAnswered} (half of the queries each, drawn at random)`,
    `  not issued: owner away ${s.skipped.ownerAway}, too many in flight ${s.skipped.backpressure}; left behind: ${s.leftovers.length === 0 ? 'nothing' : s.leftovers.join(' ')}; machine load avg ${s.loadAvg}`,
    ''
  ].join('\n')
}
