/**
 * `npm run bench:net`: what the network itself costs, with the instant
 * backend so no model time hides it. Starts real `ppai node` processes on
 * 127.0.0.1 and measures, through their HTTP APIs:
 * - start-up time per node (spawn to ready line) and RSS per node;
 * - latency of a query answered locally vs delegated to a given peer
 *   (`peer:<id>`) vs routed by the ppai policy, one at a time (p50, p99), and
 *   the delegation overhead = delegated − local;
 * - throughput of delegated queries across all nodes, many in flight.
 * Targets: overhead p50 ≤ 5 ms, p99 ≤ 25 ms; ≥ 500 delegated queries/s.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { seededRng } from '../core/rng.js'
import { repoRoot } from '../data/questions.js'
import { Cluster, sleep } from '../demo/cluster.js'
import { quantile } from './metrics.js'

interface NetBenchParams {
  nodes: number
  sequentialQueries: number
  throughputSeconds: number
  inFlight: number
  seed: number
}

const params: NetBenchParams = {
  nodes: Number(process.env.PPAI_NETBENCH_NODES ?? 12),
  sequentialQueries: Number(process.env.PPAI_NETBENCH_QUERIES ?? 400),
  throughputSeconds: Number(process.env.PPAI_NETBENCH_SECONDS ?? 8),
  inFlight: Number(process.env.PPAI_NETBENCH_INFLIGHT ?? 48),
  seed: 1
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

function summary (values: number[]): { p50: number, p99: number, mean: number } {
  const sorted = Float64Array.from(values).sort()
  const mean = values.reduce((a, b) => a + b, 0) / Math.max(1, values.length)
  return { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), mean }
}

const f = (x: number, d = 2): string => Number.isFinite(x) ? x.toFixed(d) : 'n/a'

async function main (): Promise<void> {
  const out = (s: string): void => { process.stdout.write(s + '\n') }
  out('# ppai net bench: real node processes on 127.0.0.1, instant backend')
  out(`command: npm run bench:net   (node ${process.version}, ${cpus().length} cores; params ${JSON.stringify(params)}; env PPAI_NETBENCH_NODES/QUERIES/SECONDS/INFLIGHT override)`)
  const rootDir = mkdtempSync(join(tmpdir(), 'ppai-netbench-'))
  const cluster = new Cluster({
    count: params.nodes,
    cliPath: join(repoRoot, 'dist', 'cli.js'),
    rootDir,
    startTimeoutMs: 60_000,
    env: { ...process.env, PPAI_LOG: 'warn' },
    argsFor: (_i, name, dir) => ['--name', name, '--data-dir', join(dir, 'data'), '--host', '127.0.0.1', '--port', '0', '--api-port', '0', '--no-mdns', '--network', 'ppai-netbench', '--backend', 'instant', '--log-level', 'warn']
  })
  try {
    // Start-up: the first node alone, then the others all at once (as the demo does).
    let t = performance.now()
    const first = await cluster.nodes[0].start()
    const firstMs = performance.now() - t
    const boot = cluster.bootstrapAddresses()
    t = performance.now()
    const restTimes = await Promise.all(cluster.nodes.slice(1).map(async n => {
      const s = performance.now()
      await n.start(boot)
      return performance.now() - s
    }))
    const allMs = performance.now() - t
    const { NodeClient } = await import('../demo/node-client.js')
    cluster.clients[0] = new NodeClient(first.apiUrl)
    cluster.nodes.slice(1).forEach((n, k) => { cluster.clients[k + 1] = new NodeClient(n.ready?.apiUrl ?? '') })
    out(`start-up: first node alone ${f(firstMs, 0)} ms; the other ${params.nodes - 1} in parallel: mean ${f(summary(restTimes).mean, 0)} ms, max ${f(Math.max(...restTimes), 0)} ms (all ready after ${f(allMs, 0)} ms)`)
    const counts = await cluster.waitForPeers(params.nodes - 1, 20_000)
    out(`peers seen per node after discovery: min ${Math.min(...counts)}, max ${Math.max(...counts)} of ${params.nodes - 1}`)
    const rssIdle = cluster.nodes.map(n => rssMb(n.pid))
    out(`RSS per node, idle: mean ${f(summary(rssIdle).mean, 1)} MB, max ${f(Math.max(...rssIdle), 1)} MB`)

    const rng = seededRng(params.seed)
    const peerIds = cluster.nodes.map(n => n.ready?.peerId ?? '')
    const pair = (): [number, number] => {
      const a = Math.floor(rng() * params.nodes)
      const b = (a + 1 + Math.floor(rng() * (params.nodes - 1))) % params.nodes
      return [a, b]
    }
    const measure = async (model: (a: number, b: number) => string): Promise<{ wall: number[], node: number[], delegated: number, errors: number }> => {
      const wall: number[] = []
      const node: number[] = []
      let delegated = 0
      let errors = 0
      for (let k = 0; k < params.sequentialQueries; k++) {
        const [a, b] = pair()
        const s = performance.now()
        try {
          const r = await cluster.clients[a].ask(`bench question ${k}`, model(a, b), 10_000)
          wall.push(performance.now() - s)
          node.push(r.ppai.latencyMs)
          if (r.ppai.servedBy !== 'local' && r.ppai.servedBy !== peerIds[a]) delegated++
        } catch {
          errors++
        }
      }
      return { wall, node, delegated, errors }
    }
    // Warm connections and JIT first, so the figures are of a running network.
    await measure(() => 'local')
    await measure((_a, b) => `peer:${peerIds[b]}`)
    const local = await measure(() => 'local')
    const peer = await measure((_a, b) => `peer:${peerIds[b]}`)
    const routed = await measure(() => 'ppai')
    const lw = summary(local.wall)
    const pw = summary(peer.wall)
    const ln = summary(local.node)
    const pn = summary(peer.node)
    const rw = summary(routed.wall)
    out(`\nlatency, one query at a time, ${params.sequentialQueries} each (ms; wall = driver's HTTP round trip, node = the node's own latencyMs):`)
    out(`  local      wall p50 ${f(lw.p50)}  p99 ${f(lw.p99)}   node p50 ${f(ln.p50)}  p99 ${f(ln.p99)}   errors ${local.errors}`)
    out(`  delegated  wall p50 ${f(pw.p50)}  p99 ${f(pw.p99)}   node p50 ${f(pn.p50)}  p99 ${f(pn.p99)}   errors ${peer.errors}, served by the other peer ${peer.delegated}/${peer.wall.length}`)
    out(`  ppai-routed wall p50 ${f(rw.p50)}  p99 ${f(rw.p99)}   delegated ${routed.delegated}/${routed.wall.length}, errors ${routed.errors}`)
    out(`  delegation overhead (delegated − local, wall): p50 ${f(pw.p50 - lw.p50)} ms (target ≤ 5), p99 ${f(pw.p99 - lw.p99)} ms (target ≤ 25)`)

    // Throughput: `inFlight` workers, each asking a random node to delegate to a random other peer.
    let done = 0
    let failed = 0
    let delegatedOk = 0
    const until = performance.now() + params.throughputSeconds * 1000
    const started = performance.now()
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
        } catch {
          failed++
        }
      }
    }))
    await sampler
    const seconds = (performance.now() - started) / 1000
    out(`\nthroughput: ${params.inFlight} in flight for ${f(seconds, 1)} s across ${params.nodes} nodes: ${done} answered (${delegatedOk} by the asked peer), ${failed} failed → ${f(done / seconds, 0)} delegated queries/s (target ≥ 500)`)
    const rssAfter = cluster.nodes.map(n => rssMb(n.pid))
    out(`RSS per node after load: mean ${f(summary(rssAfter).mean, 1)} MB, max ${f(Math.max(...rssAfter), 1)} MB; peak seen during load ${f(peakRss, 1)} MB`)
  } finally {
    await cluster.stop()
    rmSync(rootDir, { recursive: true, force: true })
  }
}

await main()
