/**
 * Candidate retrieval through the real DHT (part of `npm run bench:net`):
 * N PPAI nodes in this process on 127.0.0.1, each with the profile of one
 * agent of the core bench's population, each announcing every bucket key of
 * every prototype in every table of the bucket code (its provider records
 * placed as it joined, like a network that grows). Then, for held-out
 * queries, a random node looks up the query's probe buckets in the DHT the
 * way a node does (the node's provider cache, one lookup per bucket) and the
 * bench counts how many of the query's true top-5 candidates (by
 * `predictSuccess` over every other node's profile) those lookups found, and
 * how long the lookups took. The in-memory bucket coverage of the same
 * queries (what the lookups could find at best, given the code) is printed
 * beside it, so a loss in the DHT is told from a loss in the code.
 */
import { cpus, loadavg } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { createInstantBackend } from '../agent/instant.js'
import { createHashEmbedder } from '../core/embedder.js'
import { BucketCode } from '../core/bucket-code.js'
import { seededRng, shuffled } from '../core/rng.js'
import { loadQuestionSet, soundQuestions, splitBySubject, type Question } from '../data/questions.js'
import { BucketProviderCache } from '../net/buckets.js'
import { createPpaiNode, type PpaiNode } from '../net/node.js'
import { buildAgentPopulation, DEFAULT_POPULATION, exhaustiveTopK, queryText } from './core-bench.js'
import { quantile } from '../results/metrics.js'

export interface DhtRecallParams {
  nodes: number
  queries: number
  seed: number
  /** Neighbouring buckets probed per table, as the node does (its `probeFlipBits`, default 2). */
  flipBits: number
  /** Providers kept per bucket lookup (the node's: 2 × its 16 candidates). */
  limitPerBucket: number
  /** Time for each bucket lookup, ms (the node waits at most 1500 ms for its lookups). */
  lookupTimeoutMs: number
  /** Longest wait for every node to have announced every key, ms. */
  announceTimeoutMs: number
  /**
   * Life of the nodes' profile and provider records, ms (the node's default is 10 min, re-provided at half
   * of it). Here 3 h: the N nodes share one process and two cores, and at 64 nodes announcing alone takes
   * longer than 5 min, so with the default the re-provides of the keys already out (64 × 62 every 5 min)
   * would ask more of the process than it delivers and the measurement would never end. On separate
   * devices each node carries only its own re-provides.
   */
  recordTtlMs: number
}

export interface DhtRecallResult {
  params: DhtRecallParams
  data: string
  /** Bucket keys over all nodes, announced ones, provides that failed (and were tried again). */
  keys: number
  announced: number
  failedProvides: number
  announceMs: number
  /** Share of the true top-5 that the DHT lookups found. */
  recall: number
  /** Share of the true top-5 with a prototype in one of the probed buckets (the code's bound). */
  coverage: number
  lookupMs: { p50: number, p95: number, max: number }
  keysProbed: number
  medianFound: number
  cpuSeconds: number
  loadAvg: string
}

export const DEFAULT_DHT_RECALL: Omit<DhtRecallParams, 'nodes'> = {
  queries: 40,
  seed: 1,
  flipBits: 2,
  limitPerBucket: 32,
  lookupTimeoutMs: 1500,
  announceTimeoutMs: 3_600_000,
  recordTtlMs: 3 * 3_600_000
}

/** Runs one size; progress lines go to `note`. */
export async function measureDhtRecall (params: DhtRecallParams, note: (s: string) => void = () => {}): Promise<DhtRecallResult> {
  const set = loadQuestionSet({})
  const embedder = createHashEmbedder()
  const text = queryText(set)
  const cache = new Map<string, Float32Array>()
  const embed = (q: Question): Float32Array => {
    let e = cache.get(q.id)
    if (e == null) { e = embedder.embed(text(q)); cache.set(q.id, e) }
    return e
  }
  // The core bench's split and population: agents whose profiles come from training questions only.
  const { train, test } = splitBySubject(soundQuestions(set), 0.55, seededRng(`core-bench:${params.seed}`))
  const agents = buildAgentPopulation(train, embed, embedder, { ...DEFAULT_POPULATION, agents: params.nodes, seed: params.seed })
  const queries = shuffled(test, seededRng(`dht-recall-queries:${params.seed}`)).slice(0, params.queries).map(embed)
  const network = `ppai-netbench-dht-${params.nodes}`
  const loadAtStart = loadavg()[0]
  const cpu0 = process.cpuUsage()
  const nodes: PpaiNode[] = []
  try {
    const t0 = performance.now()
    for (let i = 0; i < agents.length; i++) {
      // A few bootstrap peers (the first node and a recent one): one refused dial does not leave a node alone.
      const boot = i === 0 ? [] : [...nodes[0].multiaddrs(), ...nodes[Math.max(0, i - 1 - (i % 3))].multiaddrs()]
      nodes.push(await createPpaiNode({
        name: `d${i}`,
        network,
        host: '127.0.0.1',
        port: 0,
        mdns: false,
        bootstrap: boot,
        backend: createInstantBackend({ label: `d${i}` }),
        embedder,
        profile: agents[i].profile,
        // No queries run here: no background bucket lookups either.
        providerRefreshMs: 0,
        recordTtlMs: params.recordTtlMs,
        // One process lags its event loop by seconds under 64 nodes: a late heartbeat is not a dead peer here.
        abortOnPingFailure: false,
        // Nor load beacons: this part measures the DHT, not the gossip.
        beaconIntervalMs: 600_000,
        logLevel: 'silent'
      }))
      await sleep(100)
      if ((i + 1) % 16 === 0) note(`  ${i + 1}/${agents.length} nodes started (${((performance.now() - t0) / 1000).toFixed(0)} s)`)
    }
    // Every key of every node announced, or the wait runs out (a node whose provides failed tries again on its next publication).
    const deadline = Date.now() + params.announceTimeoutMs
    let lastNote = Date.now()
    const progress = (): string => {
      const c = nodes.map(n => n.bucketAnnouncements())
      const behind = nodes.filter((_, i) => c[i].announced < c[i].keys)
      const conns = behind.map(n => n.libp2p.getConnections().length).sort((x, y) => x - y)
      return `${c.reduce((x, y) => x + y.announced, 0)}/${c.reduce((x, y) => x + y.keys, 0)} keys announced, ${c.reduce((x, y) => x + y.failedProvides, 0)} provides failed so far (${((performance.now() - t0) / 1000).toFixed(0)} s); ${behind.length} nodes not done${behind.length > 0 ? `, with ${conns.join(', ')} connections` : ''}`
    }
    while (true) {
      let passed = false
      const pass = Promise.all(nodes.map(async n => await n.announced())).then(() => { passed = true })
      while (!passed && Date.now() < deadline) {
        await Promise.race([pass, sleep(1000)])
        if (!passed && Date.now() - lastNote > 30_000) {
          note(`  ${progress()}`)
          lastNote = Date.now()
        }
      }
      const counts = nodes.map(n => n.bucketAnnouncements())
      const missing = counts.reduce((s, c) => s + c.keys - c.announced, 0)
      if (missing === 0 || Date.now() >= deadline) break
      if (Date.now() - lastNote > 10_000) {
        note(`  ${missing} keys not announced yet; publishing again`)
        lastNote = Date.now()
      }
      await Promise.all(nodes.map(async n => await n.publishProfile().catch(() => {})))
      await sleep(500)
    }
    const announceMs = performance.now() - t0
    const counts = nodes.map(n => n.bucketAnnouncements())
    const keys = counts.reduce((s, c) => s + c.keys, 0)
    const announced = counts.reduce((s, c) => s + c.announced, 0)
    const failedProvides = counts.reduce((s, c) => s + c.failedProvides, 0)
    note(`  ${announced}/${keys} bucket keys announced by ${nodes.length} nodes in ${(announceMs / 1000).toFixed(1)} s (${failedProvides} provides failed and were retried)`)

    const code = new BucketCode(network, embedder.dim)
    const rng = seededRng(`dht-recall-askers:${params.seed}`)
    const lookupMs: number[] = []
    const foundCounts: number[] = []
    let hits = 0
    let total = 0
    let covered = 0
    let keysProbed = 0
    for (const e of queries) {
      const a = Math.floor(rng() * nodes.length)
      const others = agents.filter((_, j) => j !== a)
      const { truth } = exhaustiveTopK(others, [e], 5)
      const probe = code.probeKeys(e, { radius: 1, flipBits: params.flipBits })
      keysProbed = probe.length
      // The node's own provider cache, without its rate limits (every probed bucket is looked up now, four at a time).
      const providers = new BucketProviderCache({ routing: nodes[a].libp2p.contentRouting, network, selfId: nodes[a].peerId, freshMs: 0, lookupsPerSec: 1e6, maxInFlight: probe.length, backgroundPeriodMs: 0 })
      const s = performance.now()
      await providers.refresh(probe, { limit: params.limitPerBucket, timeoutMs: params.lookupTimeoutMs })
      lookupMs.push(performance.now() - s)
      const found = new Set([...providers.hits(probe).keys()].map(id => nodes.findIndex(n => n.peerId === id)).filter(j => j >= 0).map(j => agents[j].id))
      foundCounts.push(found.size)
      for (const id of truth[0]) {
        total++
        if (found.has(id)) hits++
      }
      // The code's bound: a true top-5 agent with a prototype announced under one of the probed keys.
      const probed = new Set(probe)
      for (const id of truth[0]) {
        const agent = others.find(x => x.id === id)
        if (agent?.profile.prototypes.some(p => code.keysFor(p.centroid).some(k => probed.has(k))) === true) covered++
      }
    }
    const sorted = lookupMs.slice().sort((x, y) => x - y)
    const cpu = process.cpuUsage(cpu0)
    return {
      params,
      data: set.synthetic ? 'SYNTHETIC (built-in workload; no data folder found)' : set.source,
      keys,
      announced,
      failedProvides,
      announceMs,
      recall: hits / Math.max(1, total),
      coverage: covered / Math.max(1, total),
      lookupMs: { p50: quantile(sorted, 0.5), p95: quantile(sorted, 0.95), max: sorted.at(-1) ?? Number.NaN },
      keysProbed,
      medianFound: quantile(foundCounts.slice().sort((x, y) => x - y), 0.5),
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      loadAvg: `${loadAtStart.toFixed(1)} → ${loadavg()[0].toFixed(1)} (${cpus().length} cores)`
    }
  } finally {
    await Promise.all(nodes.map(async n => await n.stop().catch(() => {})))
  }
}

/** One line of figures per size. */
export function formatDhtRecall (r: DhtRecallResult): string {
  const f = (x: number, d = 1): string => Number.isFinite(x) ? x.toFixed(d) : 'n/a'
  return `  ${r.params.nodes} nodes: top-5 found by the DHT lookups ${f(100 * r.recall)}% (in-memory bucket coverage of the same probes ${f(100 * r.coverage)}%), lookup of ${r.keysProbed} buckets p50 ${f(r.lookupMs.p50, 0)} ms, p95 ${f(r.lookupMs.p95, 0)} ms, max ${f(r.lookupMs.max, 0)} ms; median ${r.medianFound} peers found; keys announced ${r.announced}/${r.keys} in ${f(r.announceMs / 1000)} s (${r.failedProvides} provides retried); CPU ${f(r.cpuSeconds, 0)} s; load avg ${r.loadAvg}`
}

/** `node dist/bench/dht-recall.js` (the last part of `npm run bench:net`): each size of PPAI_NETBENCH_DHT_SIZES (default 16,64), PPAI_NETBENCH_DHT_QUERIES queries each (default 100). */
async function main (): Promise<void> {
  const sizes = (process.env.PPAI_NETBENCH_DHT_SIZES ?? '16,64').split(',').map(Number).filter(n => Number.isInteger(n) && n >= 2)
  const queries = Number(process.env.PPAI_NETBENCH_DHT_QUERIES ?? DEFAULT_DHT_RECALL.queries)
  const announceTimeoutMs = 1000 * Number(process.env.PPAI_NETBENCH_DHT_ANNOUNCE_S ?? DEFAULT_DHT_RECALL.announceTimeoutMs / 1000)
  console.log(`\n## candidate retrieval through the real DHT: ${sizes.join(' and ')} PPAI nodes in one process on 127.0.0.1, every node announcing every bucket key of its prototypes in all 8 tables; ${queries} held-out queries each (env PPAI_NETBENCH_DHT_SIZES, PPAI_NETBENCH_DHT_QUERIES); the lookups start when every key is announced or after ${announceTimeoutMs / 1000} s (PPAI_NETBENCH_DHT_ANNOUNCE_S); records live ${DEFAULT_DHT_RECALL.recordTtlMs / 3_600_000} h here, not the node's 10 min, so no re-provide runs while one process carries every node, and a late heartbeat ping does not close a connection (the process's event loop lags, its peers are alive)`)
  for (const nodes of sizes) {
    const r = await measureDhtRecall({ ...DEFAULT_DHT_RECALL, nodes, queries, announceTimeoutMs }, s => { process.stderr.write(s + '\n') })
    console.log(formatDhtRecall(r))
  }
}

if (process.argv[1] != null && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch(err => {
    console.error(err)
    process.exit(1)
  })
}
