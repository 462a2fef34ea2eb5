/**
 * `npm run bench:net`: what the network itself costs, with the instant
 * backend so no model time hides it.
 * Part 1, in one process (12 nodes, `node.ask` called directly, no HTTP):
 * delegation overhead (p50, p99 of a query delegated to a given peer minus a
 * local one) and throughput of delegated queries.
 * Part 2, real `ppai node` processes through their HTTP APIs: start-up time
 * and RSS per node, local vs delegated vs ppai-routed latency, and the
 * throughput of delegated queries across all processes (2 cores).
 * Part 3 (stream-bench.ts): time to first token and total time of a streamed
 * delegated answer from a simulated agent at device speed, against the same
 * answer unstreamed, through the official openai SDK.
 * Targets: overhead p50 ≤ 5 ms, p99 ≤ 25 ms; ≥ 500 delegated queries/s.
 * Delegated queries ride pooled query sessions (4 per peer, the node default);
 * PPAI_NETBENCH_SESSIONS=0 measures the one-shot protocol (a new stream each);
 * PPAI_NETBENCH_PARTS=3 runs part 3 alone.
 */
import { readFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { seededRng } from '../core/rng.js'
import { createInstantBackend } from '../agent/instant.js'
import { benchCluster, sleep } from './cluster.js'
import { createPpaiNode, type PpaiNode } from '../net/node.js'
import type { ModelChoice } from '../net/service.js'
import { quantile } from '../results/metrics.js'
import { streamBench } from './stream-bench.js'

interface NetBenchParams {
  nodes: number
  sequentialQueries: number
  /** Routed queries cost DHT lookups: fewer of them. */
  routedQueries: number
  throughputSeconds: number
  inFlight: number
  /** Query session streams per peer (0 = a new stream per delegated query, the one-shot protocol). */
  sessionsPerPeer: number
  /** Streamed (and as many unstreamed) delegated queries of part 3. */
  streamQueries: number
  /** Parts to run, of 1, 2, 3. */
  parts: number[]
  seed: number
}

const params: NetBenchParams = {
  nodes: Number(process.env.PPAI_NETBENCH_NODES ?? 12),
  sequentialQueries: Number(process.env.PPAI_NETBENCH_QUERIES ?? 300),
  routedQueries: Number(process.env.PPAI_NETBENCH_ROUTED ?? 40),
  throughputSeconds: Number(process.env.PPAI_NETBENCH_SECONDS ?? 5),
  inFlight: Number(process.env.PPAI_NETBENCH_INFLIGHT ?? 48),
  sessionsPerPeer: Number(process.env.PPAI_NETBENCH_SESSIONS ?? 4),
  streamQueries: Number(process.env.PPAI_NETBENCH_STREAM_QUERIES ?? 20),
  parts: (process.env.PPAI_NETBENCH_PARTS ?? '1,2,3').split(',').map(Number),
  seed: 1
}

/** A random (asker, other peer) pair. */
function pairs (n: number, seed: number): () => [number, number] {
  const rng = seededRng(seed)
  return () => {
    const a = Math.floor(rng() * n)
    const b = (a + 1 + Math.floor(rng() * (n - 1))) % n
    return [a, b]
  }
}

/** A random (asker, peer it knows) pair; askers that know nobody are skipped. */
function knownPairsOf (known: number[][], seed: number): () => [number, number] {
  const rng = seededRng(seed)
  const askers = known.map((k, i) => k.length > 0 ? i : -1).filter(i => i >= 0)
  if (askers.length === 0) throw new Error('no node knows another: nothing to delegate to')
  return () => {
    const a = askers[Math.floor(rng() * askers.length)]
    return [a, known[a][Math.floor(rng() * known[a].length)]]
  }
}

/** Part 1: nodes in this process, asked directly: the network's cost without HTTP or process switches. */
async function inProcess (out: (s: string) => void): Promise<void> {
  const common = { network: 'ppai-netbench-inproc', mdns: false, logLevel: 'silent', host: '127.0.0.1', port: 0, sessionsPerPeer: params.sessionsPerPeer }
  const nodes: PpaiNode[] = []
  try {
    nodes.push(await createPpaiNode({ ...common, name: 'n0', backend: createInstantBackend({ label: 'n0' }) }))
    const boot = nodes[0].multiaddrs()
    for (let i = 1; i < params.nodes; i++) {
      // One at a time: libp2p refuses more than 5 inbound connections a second from one host.
      nodes.push(await createPpaiNode({ ...common, name: `n${i}`, bootstrap: boot, backend: createInstantBackend({ label: `n${i}` }) }))
      await sleep(200)
    }
    const pair = pairs(params.nodes, params.seed)
    const run = async (model: (a: number, b: number) => string, count: number): Promise<{ ms: number[], errors: Map<string, number> }> => {
      const ms: number[] = []
      const errors = new Map<string, number>()
      for (let k = 0; k < count; k++) {
        const [a, b] = pair()
        const s = performance.now()
        try {
          await nodes[a].ask(`bench question ${k}`, { model: model(a, b) as ModelChoice, deadlineMs: 10_000 })
          ms.push(performance.now() - s)
        } catch (err) {
          const key = (err as Error).message.slice(0, 80)
          errors.set(key, (errors.get(key) ?? 0) + 1)
        }
      }
      return { ms, errors }
    }
    await run(() => 'local', 50)
    await run((_a, b) => `peer:${nodes[b].peerId}`, 100)
    const local = await run(() => 'local', params.sequentialQueries)
    const peer = await run((_a, b) => `peer:${nodes[b].peerId}`, params.sequentialQueries)
    const l = summary(local.ms)
    const p = summary(peer.ms)
    out(`\n## part 1: ${params.nodes} nodes in one process, node.ask() directly (no HTTP), one query at a time, ${params.sequentialQueries} each`)
    out(`  local      p50 ${f(l.p50)} ms  p99 ${f(l.p99)} ms`)
    out(`  delegated  p50 ${f(p.p50)} ms  p99 ${f(p.p99)} ms   errors ${[...peer.errors].map(([k, v]) => `${v}× ${k}`).join('; ') || 0}`)
    out(`  delegation overhead (delegated − local): p50 ${f(p.p50 - l.p50)} ms (target ≤ 5), p99 ${f(p.p99 - l.p99)} ms (target ≤ 25)`)
    let done = 0
    let failed = 0
    const failures = failureKinds()
    const until = performance.now() + params.throughputSeconds * 1000
    const started = performance.now()
    await Promise.all(Array.from({ length: params.inFlight }, async () => {
      for (let k = 0; k < 1_000_000 && performance.now() < until; k++) {
        const [a, b] = pair()
        try {
          await nodes[a].ask(`throughput ${k}`, { model: `peer:${nodes[b].peerId}`, deadlineMs: 10_000 })
          done++
        } catch (err) {
          failed++
          failures.note(err)
        }
      }
    }))
    const seconds = (performance.now() - started) / 1000
    out(`  throughput: ${params.inFlight} in flight for ${f(seconds, 1)} s: ${done} delegated queries answered, ${failed} failed${failures.describe()} → ${f(done / seconds, 0)} /s on ONE core (target ≥ 500 across 2 cores)`)
  } finally {
    await Promise.all(nodes.map(async n => await n.stop()))
  }
}

function rssMb (pid: number | undefined): number {
  if (pid == null) return NaN
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m == null ? NaN : Number(m[1]) / 1024
  } catch {
    return NaN
  }
}

/** CPU seconds a process has used (user + system), from /proc; NaN when unreadable. */
function cpuSeconds (pid: number | undefined): number {
  if (pid == null) return NaN
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return NaN
  }
}

function summary (values: number[]): { p50: number, p99: number, mean: number } {
  const sorted = Float64Array.from(values).sort()
  const mean = values.reduce((a, b) => a + b, 0) / Math.max(1, values.length)
  return { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), mean }
}

const f = (x: number, d = 2): string => Number.isFinite(x) ? x.toFixed(d) : 'n/a'

async function main (): Promise<void> {
  const out = (s: string): void => { process.stdout.write(s + '\n') }
  out('# ppai net bench: real node processes on 127.0.0.1, instant backend (parts 1, 2), simulated agents at device speed (part 3)')
  out(`command: npm run bench:net   (node ${process.version}, ${cpus().length} cores; params ${JSON.stringify(params)}; env PPAI_NETBENCH_NODES/QUERIES/ROUTED/SECONDS/INFLIGHT/SESSIONS/STREAM_QUERIES/PARTS override; node defaults otherwise: admission cap 4 remote queued (at most 2 of one asking peer), 20 requests/s per peer; the driver reaches the nodes over kept-alive HTTP connections)`)
  out(`machine load average (1 min) at start: ${f(loadavg()[0], 1)} on ${cpus().length} cores: other work on the machine slows every figure`)
  if (params.parts.includes(1)) await inProcess(out)
  if (params.parts.includes(2)) await processes(out)
  if (params.parts.includes(3)) {
    await streamBench({ nodes: 3, queries: params.streamQueries, seed: params.seed }, out)
    out(`machine load average (1 min) at the end: ${f(loadavg()[0], 1)}`)
  }
}

/** Part 2: real `ppai node` processes through their HTTP APIs. */
async function processes (out: (s: string) => void): Promise<void> {
  out(`\n## part 2: ${params.nodes} \`ppai node\` processes, through their HTTP APIs`)
  const { cluster, dispose } = benchCluster(params.nodes, 'ppai-netbench', ['--backend', 'instant', '--sessions-per-peer', String(params.sessionsPerPeer)])
  try {
    // Start-up: the first node alone, then the others all at once (as the demo does).
    let t = performance.now()
    const first = await cluster.nodes[0].start()
    const firstMs = performance.now() - t
    const boot = cluster.bootstrapAddresses()
    t = performance.now()
    const restTimes = await Promise.all(cluster.nodes.slice(1).map(async (n, k) => {
      // Staggered like the demo: libp2p's per-host inbound connection threshold.
      await sleep(k * 250)
      const s = performance.now()
      await n.start(boot)
      return performance.now() - s
    }))
    const allMs = performance.now() - t
    const { NodeClient } = await import('../demo/node-client.js')
    cluster.clients[0] = new NodeClient(first.apiUrl)
    cluster.nodes.slice(1).forEach((n, k) => { cluster.clients[k + 1] = new NodeClient(n.ready?.apiUrl ?? '') })
    out(`start-up: first node alone ${f(firstMs, 0)} ms; the other ${params.nodes - 1} started 250 ms apart: mean ${f(summary(restTimes).mean, 0)} ms, max ${f(Math.max(...restTimes), 0)} ms (all ready after ${f(allMs, 0)} ms)`)
    // Every node connected to every other (bounded wait): a node refuses `peer:<id>` for a peer it does not know.
    const discoveryStart = performance.now()
    const counts = await cluster.waitForPeers(params.nodes - 1, 30_000)
    const answered = counts.filter(Number.isFinite)
    out(`peers seen per node after discovery (${f((performance.now() - discoveryStart) / 1000, 1)} s): min ${Math.min(...answered)}, max ${Math.max(...answered)} of ${params.nodes - 1}${answered.length < counts.length ? ` (${counts.length - answered.length} nodes did not answer the status poll in time)` : ''}`)
    const rssIdle = cluster.nodes.map(n => rssMb(n.pid))
    out(`RSS per node, idle: mean ${f(summary(rssIdle).mean, 1)} MB, max ${f(Math.max(...rssIdle), 1)} MB`)

    const peerIds = cluster.nodes.map(n => n.ready?.peerId ?? '')
    // Delegation targets: the peers each node knows (after a slow discovery some may not know all).
    const known = await Promise.all(cluster.clients.map(async c => {
      const ids = new Set((await c.peers(10_000).catch(() => [])).map(p => p.peerId))
      return peerIds.map((id, j) => ids.has(id) ? j : -1).filter(j => j >= 0)
    }))
    const knownPairs = known.reduce((n, k) => n + k.length, 0)
    if (knownPairs < params.nodes * (params.nodes - 1)) out(`  delegated pairs limited to the ${knownPairs} of ${params.nodes * (params.nodes - 1)} where the asker knows the peer`)
    const pair = knownPairsOf(known, params.seed + 1)
    const errorKinds = new Map<string, number>()
    const measure = async (model: (a: number, b: number) => string, count = params.sequentialQueries): Promise<{ wall: number[], node: number[], delegated: number, errors: number }> => {
      const wall: number[] = []
      const node: number[] = []
      let delegated = 0
      let errors = 0
      for (let k = 0; k < count; k++) {
        const [a, b] = pair()
        const s = performance.now()
        try {
          const r = await cluster.clients[a].ask(`bench question ${k}`, model(a, b), 10_000)
          wall.push(performance.now() - s)
          node.push(r.ppai.latencyMs)
          if (r.ppai.servedBy !== 'local' && r.ppai.servedBy !== peerIds[a]) delegated++
        } catch (err) {
          errors++
          const key = (err as Error).message.replace(/http:\/\/127\.0\.0\.1:\d+/g, '<api>').slice(0, 100)
          errorKinds.set(key, (errorKinds.get(key) ?? 0) + 1)
        }
      }
      return { wall, node, delegated, errors }
    }
    // Warm connections and JIT first, so the figures are of a running network.
    await measure(() => 'local', 50)
    await measure((_a, b) => `peer:${peerIds[b]}`, 100)
    errorKinds.clear()
    const local = await measure(() => 'local')
    const peer = await measure((_a, b) => `peer:${peerIds[b]}`)
    const routed = await measure(() => 'ppai', params.routedQueries)
    const lw = summary(local.wall)
    const pw = summary(peer.wall)
    const ln = summary(local.node)
    const pn = summary(peer.node)
    const rw = summary(routed.wall)
    out(`latency, one query at a time, ${params.sequentialQueries} each (${params.routedQueries} routed) (ms; wall = driver's HTTP round trip, node = the node's own latencyMs):`)
    out(`  local      wall p50 ${f(lw.p50)}  p99 ${f(lw.p99)}   node p50 ${f(ln.p50)}  p99 ${f(ln.p99)}   errors ${local.errors}`)
    out(`  delegated  wall p50 ${f(pw.p50)}  p99 ${f(pw.p99)}   node p50 ${f(pn.p50)}  p99 ${f(pn.p99)}   errors ${peer.errors}, served by the other peer ${peer.delegated}/${peer.wall.length}`)
    out(`  ppai-routed wall p50 ${f(rw.p50)}  p99 ${f(rw.p99)}   delegated ${routed.delegated}/${routed.wall.length}, errors ${routed.errors}`)
    out(`  delegation overhead (delegated − local, wall): p50 ${f(pw.p50 - lw.p50)} ms (target ≤ 5), p99 ${f(pw.p99 - lw.p99)} ms (target ≤ 25)`)
    if (errorKinds.size > 0) out(`  errors: ${[...errorKinds].map(([k, v]) => `${v}× ${k}`).join('; ')}`)

    // Throughput: `inFlight` workers, each asking a random node to delegate to a random other peer.
    let done = 0
    let failed = 0
    let delegatedOk = 0
    const failures = failureKinds()
    const until = performance.now() + params.throughputSeconds * 1000
    const started = performance.now()
    const nodeCpu0 = cluster.nodes.map(n => cpuSeconds(n.pid))
    const driverCpu0 = process.cpuUsage()
    let peakRss = 0
    const sampler = (async () => {
      while (performance.now() < until) {
        peakRss = Math.max(peakRss, ...cluster.nodes.map(n => rssMb(n.pid)).filter(Number.isFinite))
        await sleep(500)
      }
    })()
    await Promise.all(Array.from({ length: params.inFlight }, async () => {
      // Bounded by time and by count.
      for (let k = 0; k < 1_000_000 && performance.now() < until; k++) {
        const [a, b] = pair()
        try {
          const r = await cluster.clients[a].ask(`throughput ${k}`, `peer:${peerIds[b]}`, 10_000)
          done++
          if (r.ppai.servedBy === peerIds[b]) delegatedOk++
        } catch (err) {
          failed++
          failures.note(err)
        }
      }
    }))
    await sampler
    const seconds = (performance.now() - started) / 1000
    const nodeCpu = cluster.nodes.reduce((sum, n, i) => sum + cpuSeconds(n.pid) - nodeCpu0[i], 0)
    const driverCpu = process.cpuUsage(driverCpu0)
    const driverSeconds = (driverCpu.user + driverCpu.system) / 1e6
    out(`throughput: ${params.inFlight} in flight for ${f(seconds, 1)} s across ${params.nodes} nodes: ${done} answered (${delegatedOk} by the asked peer), ${failed} failed${failures.describe()} → ${f(done / seconds, 0)} delegated queries/s (target ≥ 500)`)
    out(`  CPU during it: nodes ${f(nodeCpu / seconds)} cores (${f(1000 * nodeCpu / Math.max(1, done))} ms per query, both sides), driver ${f(driverSeconds / seconds)} cores (${f(1000 * driverSeconds / Math.max(1, done))} ms per query); the machine has ${cpus().length}`)
    const rssAfter = cluster.nodes.map(n => rssMb(n.pid))
    out(`RSS per node after load: mean ${f(summary(rssAfter).mean, 1)} MB, max ${f(Math.max(...rssAfter), 1)} MB; peak seen during load ${f(peakRss, 1)} MB`)
    out(`machine load average (1 min) at the end: ${f(loadavg()[0], 1)}`)
  } finally {
    await dispose()
  }
}

if (params.parts.some(p => ![1, 2, 3].includes(p)) || !(params.streamQueries >= 1)) {
  process.stderr.write(`bench:net: PPAI_NETBENCH_PARTS takes a comma-separated list of 1, 2, 3 and PPAI_NETBENCH_STREAM_QUERIES a count ≥ 1 (got '${process.env.PPAI_NETBENCH_PARTS ?? ''}', '${process.env.PPAI_NETBENCH_STREAM_QUERIES ?? ''}')\n`)
  process.exit(2)
}
await main()
/** Why throughput queries failed, by kind: a forced peer that refused (busy) is not a lost query, and the output should say so. */
function failureKinds (): { note: (err: unknown) => void, describe: () => string } {
  const counts = new Map<string, number>()
  return {
    note (err) {
      const message = err instanceof Error ? err.message : String(err)
      // The API's error message after the status, without ids and numbers, names the kind.
      const kind = (message.split(': ').slice(2).join(': ') || message).replace(/[0-9a-zA-Z]{40,}/g, '<peer>').replace(/[0-9]+/g, 'N').slice(0, 80)
      counts.set(kind, (counts.get(kind) ?? 0) + 1)
    },
    describe () {
      if (counts.size === 0) return ''
      return ` (${[...counts].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([k, n]) => `${n} × ${k}`).join('; ')})`
    }
  }
}
