/**
 * Drives one policy's run on a live cluster (whose nodes seeded their profiles
 * from their owners' training tasks): waits for the profiles to spread, then
 * sends the planned test queries at their times through each node's HTTP API, feedback after every answer (the driver knows the ground
 * truth), churn (kill, later restart), and the load polled from the nodes.
 */
import { cpus, loadavg } from 'node:os'
import { correctLetter, formatQuestion, parseAnswerLetter } from '../agent/question-prompt.js'
import { summarise, type PolicyResult, type QueryOutcome } from '../results/metrics.js'
import { sleep, sleepUntil, type Cluster } from './cluster.js'
import { DecisionDigester, type DecisionDigest } from './decision-digest.js'
import { NodeApiError, type NodeAnswer } from './node-client.js'
import type { Progress } from './progress.js'
import type { DemoWorkload, PlannedQuery } from './workload.js'

/** What happened in a run besides the results row, for the report. */
export interface RunNotes {
  policy: string
  /** Queries not issued because their owner's node was away (churn). */
  skippedOwnerAway: number
  /** Queries that ended in an error response instead of an answer, by reason. */
  errors: Record<string, number>
  /** Questions sent a second time because the connection to the owner's node broke before it got them. */
  resent: number
  /** Failed attempts (each followed by a fallback), by the node's error message (first words). */
  attemptErrors: Record<string, number>
  /** Peers each node saw after discovery, min over nodes. */
  minPeersAtStart: number
  /** Nodes whose profile every other node had fetched before the run, of all nodes. */
  profilesSeen: number
  departures: number
  rejoins: number
  runMs: number
  /** Where the time went, mean ms per answered query: HTTP (driver wall − node latency), routing (node latency − attempts), attempts. */
  timeSplitMs: { http: number, routing: number, attempts: number }
  /** 1-minute load average of the machine at the start and end of the run: other work skews latencies. */
  loadAvg: string
  /** What the routing decisions rested on, averaged (absent for runs without decisions). */
  decisions?: DecisionDigest
}

export interface DriveOptions {
  policy: string
  /** Per-query HTTP timeout, ms: longer than the node's own deadline, so the node's clear error arrives first. */
  askTimeoutMs: number
  /** How long to wait for profiles to spread after warm-up, ms. */
  settleMs: number
}

/** Runs the workload on the cluster and summarises it as a results row. */
export async function drivePolicy (cluster: Cluster, workload: DemoWorkload, opts: DriveOptions, progress: Progress): Promise<{ result: PolicyResult, notes: RunNotes }> {
  const n = cluster.nodes.length
  const notes: RunNotes = { policy: opts.policy, skippedOwnerAway: 0, errors: {}, attemptErrors: {}, resent: 0, minPeersAtStart: 0, profilesSeen: 0, departures: 0, rejoins: 0, runMs: 0, loadAvg: '', timeSplitMs: { http: 0, routing: 0, attempts: 0 } }

  progress.phase(`${opts.policy}: waiting for every profile to reach every node`)
  notes.profilesSeen = await waitForProfiles(cluster, opts.settleMs)
  progress.phase(`${opts.policy}: ${notes.profilesSeen}/${n} nodes' profiles known to all others; running ${workload.queries.length} queries`)

  const outcomes: QueryOutcome[] = []
  const digester = new DecisionDigester()
  const served = new Array<number>(n).fill(0)
  const inFlight = new Array<Set<Promise<void>>>(n).fill(undefined as never).map(() => new Set<Promise<void>>())
  const away = new Array<boolean>(n).fill(false)
  let issued = 0
  const split = { http: 0, routing: 0, attempts: 0 }
  let maxBacklog = 0
  let done = false
  const start = Date.now()
  const loadAtStart = loadavg()[0]

  const poller = (async () => {
    while (!done) {
      const backlogs = await Promise.all(cluster.clients.map(async (c, i) => {
        if (away[i]) return 0
        try {
          return (await c.status(1_000)).backlog
        } catch {
          return 0
        }
      }))
      maxBacklog = Math.max(maxBacklog, ...backlogs)
      // Once a second: polling costs the nodes CPU that their queries need.
      await sleep(1_000)
    }
  })()

  const churner = (async () => {
    const pending: Array<Promise<void>> = []
    for (const e of workload.churn) {
      await sleepUntil(start + e.at, () => done)
      if (done) break
      away[e.node] = true
      // The owner leaves once its own questions are answered (each is bounded by the ask timeout); what it serves for others is cut off.
      await Promise.allSettled([...inFlight[e.node]])
      await cluster.nodes[e.node].kill()
      notes.departures++
      progress.note(`${cluster.nodes[e.node].init.name} left`)
      pending.push((async () => {
        await sleep(e.downMs)
        try {
          await cluster.restart(e.node)
          notes.rejoins++
          progress.note(`${cluster.nodes[e.node].init.name} rejoined`)
        } catch (err) {
          progress.note(`${cluster.nodes[e.node].init.name} failed to rejoin: ${(err as Error).message}`)
        }
        away[e.node] = false
      })())
    }
    await Promise.all(pending)
  })()

  const ask = async (pq: PlannedQuery): Promise<void> => {
    let client = cluster.clients[pq.node]
    const t0 = performance.now()
    try {
      let a: NodeAnswer
      try {
        a = await client.ask(formatQuestion(pq.question), 'ppai', opts.askTimeoutMs)
      } catch (err) {
        // A kept-alive connection the node closed just as it was reused never reached the node: send once more.
        if (!(err instanceof NodeApiError) || err.reason !== 'unreachable' || !cluster.nodes[pq.node].running) throw err
        notes.resent++
        client = cluster.clients[pq.node]
        a = await client.ask(formatQuestion(pq.question), 'ppai', opts.askTimeoutMs)
      }
      const latencyMs = performance.now() - t0
      const correct = parseAnswerLetter(a.text) === correctLetter(pq.question)
      const attempts = a.ppai.attempts
      const attemptMs = attempts.reduce((sum, t) => sum + t.latencyMs, 0)
      split.http += latencyMs - a.ppai.latencyMs
      split.routing += a.ppai.latencyMs - attemptMs
      split.attempts += attemptMs
      for (const t of attempts) {
        if (t.status !== 'error' && t.status !== 'timeout') continue
        const key = `${t.status}: ${(t.error ?? '').replace(/12D3Koo\w+/g, '<peer>').slice(0, 60)}`
        notes.attemptErrors[key] = (notes.attemptErrors[key] ?? 0) + 1
      }
      const servedBy = a.ppai.servedBy
      const server = servedBy === 'local' ? pq.node : cluster.indexOfPeer(servedBy)
      digester.add(a.ppai, correct, servedBy !== 'local' && server !== pq.node, workload.owners[pq.node].subjects.includes(pq.question.subject))
      if (server >= 0) served[server]++
      outcomes.push({
        latencyMs,
        correct,
        refused: attempts.filter(t => t.status === 'busy').length,
        failed: attempts.filter(t => t.status === 'error' || t.status === 'timeout').length,
        // A remote attempt is a request and a reply on /ppai/query/1.0.0.
        messages: 2 * attempts.filter(t => t.action !== 'local').length,
        servedBy: servedBy === 'local' || server === pq.node ? 'local' : servedBy
      })
      await client.feedback(a.ppai.id, correct ? 1 : 0).catch(() => undefined)
    } catch (err) {
      const reason = err instanceof NodeApiError ? `${err.reason}${err.status != null ? ' ' + err.status : ''} (${err.message.replace(/http:\/\/127\.0\.0\.1:\d+/g, '<api>').slice(0, 80)})` : `other (${String(err).slice(0, 80)})`
      notes.errors[reason] = (notes.errors[reason] ?? 0) + 1
    }
    progress.update(outcomes.length, issued, workload.queries.length)
  }

  for (const pq of workload.queries) {
    await sleepUntil(start + pq.at)
    if (away[pq.node] || !cluster.nodes[pq.node].running) {
      notes.skippedOwnerAway++
      continue
    }
    issued++
    const p = ask(pq)
    inFlight[pq.node].add(p)
    void p.finally(() => inFlight[pq.node].delete(p))
  }
  await Promise.allSettled(inFlight.flatMap(s => [...s]))
  notes.runMs = Date.now() - start
  const answered = Math.max(1, outcomes.length)
  notes.timeSplitMs = { http: Math.round(split.http / answered), routing: Math.round(split.routing / answered), attempts: Math.round(split.attempts / answered) }
  notes.loadAvg = `${loadAtStart.toFixed(1)} → ${loadavg()[0].toFixed(1)} (${cpus().length} cores)`
  notes.decisions = digester.digest()
  done = true
  await Promise.all([poller, churner])
  progress.done(`${opts.policy}: ${outcomes.length}/${issued} answered in ${(notes.runMs / 1000).toFixed(1)} s`)
  const result = summarise(opts.policy, outcomes, { issued, loadPerAgent: served, maxBacklog })
  return { result, notes }
}

/**
 * Waits until every node's profile is known to every other node, or no more
 * spread for `quietMs`, or `timeoutMs`; returns how many profiles all others know.
 * Nodes fetch profiles lazily too (when a query finds a peer in the DHT), so
 * an incomplete spread here is no failure.
 */
async function waitForProfiles (cluster: Cluster, timeoutMs: number, quietMs = 5_000): Promise<number> {
  const deadline = Date.now() + timeoutMs
  const n = cluster.nodes.length
  let best = -1
  let lastProgress = Date.now()
  while (true) {
    const seenBy = new Map<string, number>()
    let known = 0
    await Promise.all(cluster.clients.map(async c => {
      try {
        for (const p of await c.peers(2_000)) {
          if (p.prototypes.length === 0) continue
          known++
          seenBy.set(p.peerId, (seenBy.get(p.peerId) ?? 0) + 1)
        }
      } catch {
        // a node not answering sees nobody
      }
    }))
    const complete = cluster.nodes.filter(node => node.ready != null && (seenBy.get(node.ready.peerId) ?? 0) >= n - 1).length
    if (known > best) {
      best = known
      lastProgress = Date.now()
    }
    if (complete >= n || Date.now() >= deadline || Date.now() - lastProgress >= quietMs) return complete
    await sleep(300)
  }
}
