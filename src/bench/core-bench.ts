/**
 * `npm run bench:core`: throughput and latency of the core's hot paths —
 * embedding, scoring, candidate retrieval over 10,000 agents, profile size,
 * subject routing on held-out questions and the equilibrium solve — on the
 * MMLU-Redux questions when found, else on the built-in synthetic workload
 * (said so in every line that depends on it).
 *
 * Flags: `--data DIR`, `--synthetic`, `--agents N` (default 10000), `--queries N` (default 200), `--seed N`.
 */
import { cpus, loadavg } from 'node:os'
import { pathToFileURL } from 'node:url'
import { createHashEmbedder } from '../core/embedder.js'
import { equilibriumStrategy, type GameInput } from '../core/game.js'
import { encodeProfile } from '../core/profile-codec.js'
import { buildProfile } from '../core/prototypes.js'
import { BucketCode } from '../core/bucket-code.js'
import { CandidateIndex } from '../core/retrieval.js'
import { seededRng, shuffled } from '../core/rng.js'
import { predictSuccess } from '../core/scoring.js'
import type { Embedder, Profile, Rng } from '../core/types.js'
import { SUBJECT_DOMAINS } from '../data/domains.js'
import { loadQuestionSet, soundQuestions, splitBySubject, type Question, type QuestionSet } from '../data/questions.js'
import { dot } from '../core/vector.js'
import { formatGainSources, gainSources } from './gain-sources.js'
import { routingQuality } from './routing-quality.js'
import { buildScenario, scenarioDefaults } from './scenarios.js'

/** The parameters of a benchmark population of agents; every one is printed. */
export interface PopulationParams {
  agents: number
  seed: number
  /** Each agent is strong on this many subjects (drawn uniformly)... */
  strongSubjectsMin: number
  strongSubjectsMax: number
  /** ...and its profile is built from this many training questions of each strong subject... */
  questionsPerStrongSubject: number
  /** ...plus this many training questions of any subject (its owner's other asks). */
  otherQuestions: number
  /** Its success probability on its strong subjects, drawn per agent in [min, max]... */
  strongSuccessMin: number
  strongSuccessMax: number
  /** ...and elsewhere. */
  weakSuccessMin: number
  weakSuccessMax: number
}

export const DEFAULT_POPULATION: PopulationParams = {
  agents: 10_000,
  seed: 1,
  strongSubjectsMin: 1,
  strongSubjectsMax: 3,
  questionsPerStrongSubject: 12,
  otherQuestions: 6,
  strongSuccessMin: 0.7,
  strongSuccessMax: 0.95,
  weakSuccessMin: 0.3,
  weakSuccessMax: 0.6
}

/** One benchmark agent: its id, the subjects it is strong on and its profile. */
export interface PopulationAgent {
  id: string
  strong: string[]
  profile: Profile
}

/**
 * Agents built from real question embeddings: each is strong on a few
 * subjects, and its profile comes from training questions it answered, right
 * with its (drawn) success probability. Never touches the test split.
 */
export function buildAgentPopulation (train: Question[], embed: (q: Question) => Float32Array, embedder: Pick<Embedder, 'id' | 'dim'>, params: PopulationParams): PopulationAgent[] {
  const rng = seededRng(params.seed)
  const bySubject = new Map<string, Question[]>()
  for (const q of train) bySubject.set(q.subject, [...(bySubject.get(q.subject) ?? []), q])
  const subjects = [...bySubject.keys()].sort()
  const between = (lo: number, hi: number, r: Rng): number => lo + (hi - lo) * r()
  const agents: PopulationAgent[] = []
  for (let a = 0; a < params.agents; a++) {
    const nStrong = params.strongSubjectsMin + Math.floor(rng() * (params.strongSubjectsMax - params.strongSubjectsMin + 1))
    const strong = shuffled(subjects, rng).slice(0, Math.min(nStrong, subjects.length))
    const pStrong = between(params.strongSuccessMin, params.strongSuccessMax, rng)
    const pWeak = between(params.weakSuccessMin, params.weakSuccessMax, rng)
    const examples: Array<{ embedding: Float32Array, outcome: number }> = []
    for (const s of strong) {
      const pool = bySubject.get(s) ?? []
      for (const q of shuffled(pool, rng).slice(0, params.questionsPerStrongSubject)) examples.push({ embedding: embed(q), outcome: rng() < pStrong ? 1 : 0 })
    }
    for (let k = 0; k < params.otherQuestions; k++) {
      const q = train[Math.floor(rng() * train.length)]
      const p = strong.includes(q.subject) ? pStrong : pWeak
      examples.push({ embedding: embed(q), outcome: rng() < p ? 1 : 0 })
    }
    agents.push({ id: `agent-${String(a).padStart(5, '0')}`, strong, profile: buildProfile(embedder.id, embedder.dim, shuffled(examples, rng)) })
  }
  return agents
}

/** The exhaustive top-k by `predictSuccess` of each query: the k-th best score and the agents reaching it (ties count as true). */
export function exhaustiveTopK (agents: PopulationAgent[], queries: Float32Array[], k = 5): { truth: Array<Set<string>>, topMeans: number[], exhaustiveMs: number[] } {
  const truth: Array<Set<string>> = []
  const topMeans: number[] = []
  const exhaustiveMs: number[] = []
  for (const e of queries) {
    const t0 = performance.now()
    const scores = agents.map(a => predictSuccess(a.profile, e).mean)
    exhaustiveMs.push(performance.now() - t0)
    const sorted = scores.slice().sort((x, y) => y - x)
    const kth = sorted[Math.min(k, scores.length) - 1]
    truth.push(new Set(agents.filter((_, i) => scores[i] >= kth - 1e-12).map(a => a.id)))
    topMeans.push(sorted.slice(0, k).reduce((a, b) => a + b, 0) / Math.min(k, sorted.length))
  }
  return { truth, topMeans, exhaustiveMs }
}

/** Recall of the true top-k (exhaustive `predictSuccess`) among the index's top-k, with per-query wall and CPU time. */
export function retrievalRecall (index: CandidateIndex, agents: PopulationAgent[], queries: Float32Array[], k = 5, opts: { scanBudget?: number, truth?: Array<Set<string>> } = {}): { recall: number, latenciesMs: number[], cpuMsPerQuery: number, exhaustiveMs: number[], retrievedMeans: number[] } {
  const { truth, exhaustiveMs } = opts.truth == null ? exhaustiveTopK(agents, queries, k) : { truth: opts.truth, exhaustiveMs: [] }
  let found = 0
  const latenciesMs: number[] = []
  const results: Array<Array<{ score: number }>> = []
  const cpu0 = process.cpuUsage()
  queries.forEach((e, i) => {
    const t1 = performance.now()
    const got = index.rankedCandidates(e, k, { scanBudget: opts.scanBudget })
    latenciesMs.push(performance.now() - t1)
    results.push(got)
    found += got.filter(c => truth[i].has(c.agentId)).length
  })
  const cpu = process.cpuUsage(cpu0)
  // The index's scores are exactly predictSuccess (tested), so they are the retrieved agents' true scores.
  const retrievedMeans = results.map(got => got.reduce((a, c) => a + c.score, 0) / Math.max(1, got.length))
  return { recall: found / (queries.length * k), latenciesMs, cpuMsPerQuery: (cpu.user + cpu.system) / 1000 / queries.length, exhaustiveMs, retrievedMeans }
}

/** For the DHT path: share of the true top-k agents with a prototype in one of the query's probe buckets, and how many agents those buckets hold. */
export function bucketCoverage (code: BucketCode, agents: PopulationAgent[], queries: Float32Array[], truth: Array<Set<string>>, radius: number): { coverage: number, medianAgentsFound: number, keysProbed: number } {
  const byKey = new Map<string, Set<string>>()
  for (const a of agents) {
    for (const p of a.profile.prototypes) {
      for (const key of code.keysFor(p.centroid)) {
        let s = byKey.get(key)
        if (s == null) { s = new Set(); byKey.set(key, s) }
        s.add(a.id)
      }
    }
  }
  let covered = 0
  let total = 0
  const found: number[] = []
  let keysProbed = 0
  queries.forEach((e, i) => {
    const keys = code.probeKeys(e, { radius })
    keysProbed = keys.length
    const agentsFound = new Set<string>()
    for (const key of keys) for (const id of byKey.get(key) ?? []) agentsFound.add(id)
    found.push(agentsFound.size)
    for (const id of truth[i]) { total++; if (agentsFound.has(id)) covered++ }
  })
  return { coverage: covered / total, medianAgentsFound: quantile(found, 0.5), keysProbed }
}

/** The given quantile (0..1) of a list of numbers. */
export function quantile (values: number[], q: number): number {
  if (values.length === 0) return Number.NaN
  const s = values.slice().sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.round(q * (s.length - 1))))]
}

/** Query text as a user would send it: the question with its options (the synthetic set's options are shared placeholders and left out). */
export function queryText (set: QuestionSet): (q: Question) => string {
  return q => set.synthetic ? q.question : `${q.question} ${q.choices.join(' ')}`
}

function flag (args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? args[i + 1] : undefined
}

function fmt (x: number, digits = 3): string {
  return Number.isFinite(x) ? x.toFixed(digits) : String(x)
}

/** Runs `fn` repeatedly over `items`, returns per-call latencies in ms (batched timing for sub-microsecond calls). */
function timeEach<T> (items: T[], fn: (item: T) => void, batch = 1): number[] {
  const out: number[] = []
  for (let i = 0; i + batch <= items.length; i += batch) {
    const t0 = performance.now()
    for (let j = i; j < i + batch; j++) fn(items[j])
    out.push((performance.now() - t0) / batch)
  }
  return out
}

async function main (args: string[]): Promise<void> {
  const started = performance.now()
  const set = loadQuestionSet({ dataDir: flag(args, 'data'), synthetic: args.includes('--synthetic') })
  const label = set.synthetic ? 'synthetic' : 'mmlu-redux'
  const embedder = createHashEmbedder()
  const text = queryText(set)
  const seed = Number(flag(args, 'seed') ?? 1)
  console.log(`# core bench — data: ${set.synthetic ? 'SYNTHETIC (built-in workload; no data folder found)' : set.source}, embedder ${embedder.id}, seed ${seed}`)
  if (set.synthetic) console.log(`synthetic parameters: ${JSON.stringify(set.syntheticParams)}`)
  const questions = soundQuestions(set)

  // Embedding: every sound question's query text, three passes.
  const texts = questions.map(text)
  for (const t of texts.slice(0, 500)) embedder.embed(t)
  const passes = 3
  const embedLat = timeEach(Array.from({ length: passes }, () => texts).flat(), t => { embedder.embed(t) }, 50)
  const meanChars = texts.reduce((s, t) => s + t.length, 0) / texts.length
  const shortTexts = questions.map(q => q.question.slice(0, 80))
  const shortLat = timeEach(Array.from({ length: passes }, () => shortTexts).flat(), t => { embedder.embed(t) }, 50)
  console.log(`[${label}] embed: ${fmt(1000 / (embedLat.reduce((a, b) => a + b, 0) / embedLat.length), 0)} queries/s on one core (question + options, mean ${fmt(meanChars, 0)} chars; median ${fmt(quantile(embedLat, 0.5) * 1000, 1)} µs, p99 ${fmt(quantile(embedLat, 0.99) * 1000, 1)} µs per query over batches of 50)`)
  console.log(`[${label}] embed short: ${fmt(1000 / (shortLat.reduce((a, b) => a + b, 0) / shortLat.length), 0)} queries/s (first 80 chars of each question)`)

  const E = new Map<string, Float32Array>()
  for (const q of questions) E.set(q.id, embedder.embed(text(q)))
  const embed = (q: Question): Float32Array => E.get(q.id) ?? embedder.embed(text(q))
  const { train, test } = splitBySubject(questions, 0.55, seededRng(`core-bench:${seed}`))

  // Subject routing: one profile per subject from up to 50 training questions (outcome 1), top-1/top-3 over held-out questions.
  const subjectProfiles = set.subjects.map(s => ({ s, p: buildProfile(embedder.id, embedder.dim, train.filter(q => q.subject === s).slice(0, 50).map(q => ({ embedding: embed(q), outcome: 1 }))) }))
  let top1 = 0
  let top3 = 0
  for (const q of test) {
    const e = embed(q)
    const ranked = subjectProfiles.map(x => ({ s: x.s, m: predictSuccess(x.p, e).mean })).sort((a, b) => b.m - a.m)
    const r = ranked.findIndex(x => x.s === q.subject)
    if (r === 0) top1++
    if (r < 3) top3++
  }
  console.log(`[${label}] routing by subject profiles: ${set.subjects.length} subjects, <=50 train questions each, ${test.length} held out: top-1 ${fmt(top1 / test.length)}, top-3 ${fmt(top3 / test.length)} (chance ${fmt(1 / set.subjects.length)})`)

  // Scoring one profile, and the profile's wire size.
  const population: PopulationParams = { ...DEFAULT_POPULATION, agents: Number(flag(args, 'agents') ?? DEFAULT_POPULATION.agents), seed }
  const t0 = performance.now()
  const agents = buildAgentPopulation(train, embed, embedder, population)
  const buildMs = performance.now() - t0
  const queryRng = seededRng(`core-bench-queries:${seed}`)
  const nQueries = Math.min(test.length, Number(flag(args, 'queries') ?? 200))
  const queries = shuffled(test, queryRng).slice(0, nQueries).map(embed)
  const scoreLat = timeEach(queries.flatMap(e => agents.slice(0, 20).map(a => ({ e, p: a.profile }))), x => { predictSuccess(x.p, x.e) }, 20)
  console.log(`[${label}] score (predictSuccess, one profile of <=8 prototypes): ${fmt(1000 / (scoreLat.reduce((a, b) => a + b, 0) / scoreLat.length), 0)} /s; median ${fmt(quantile(scoreLat, 0.5) * 1000, 2)} µs, p99 ${fmt(quantile(scoreLat, 0.99) * 1000, 2)} µs`)
  const sizes = agents.slice(0, 1000).map(a => encodeProfile(a.profile).length)
  const full = agents.find(a => a.profile.prototypes.length === 8)
  console.log(`[${label}] profile encode size: ${full == null ? 'no 8-prototype profile' : `${encodeProfile(full.profile).length} bytes at K=8, d=${embedder.dim}`}; mean ${fmt(sizes.reduce((a, b) => a + b, 0) / sizes.length, 0)} bytes over 1000 agents (mean ${fmt(agents.reduce((s, a) => s + a.profile.prototypes.length, 0) / agents.length, 2)} prototypes)`)

  // Retrieval over the population: build (upserts, then the first query trains the cells), then the default and a sweep of scan budgets.
  const code = new BucketCode('core-bench', embedder.dim)
  const index = new CandidateIndex(code)
  const t1 = performance.now()
  for (const a of agents) index.upsert(a.id, a.profile)
  index.candidates(queries[0], 5)
  const indexMs = performance.now() - t1
  console.log(`population: ${JSON.stringify(population)}; built in ${fmt(buildMs / 1000, 1)} s; indexed (${index.prototypes} prototypes, cells trained) in ${fmt(indexMs, 0)} ms`)
  for (const e of queries.slice(0, 20)) index.candidates(e, 5)
  const { truth, topMeans, exhaustiveMs } = exhaustiveTopK(agents, queries, 5)
  const trueMean = topMeans.reduce((a, b) => a + b, 0) / topMeans.length
  const scoreOf = (x: { retrievedMeans: number[] }): string => fmt(x.retrievedMeans.reduce((a, b) => a + b, 0) / x.retrievedMeans.length / trueMean)
  const r = retrievalRecall(index, agents, queries, 5, { truth })
  console.log(`[${label}] retrieve (default: scan 15% of prototypes) over ${agents.length} agents, ${queries.length} held-out queries: median ${fmt(quantile(r.latenciesMs, 0.5))} ms, p99 ${fmt(quantile(r.latenciesMs, 0.99))} ms, CPU ${fmt(r.cpuMsPerQuery)} ms/query, recall@5 ${fmt(r.recall)}, mean score of the 5 found / of the true top 5 ${scoreOf(r)} (exhaustive predictSuccess over all agents: median ${fmt(quantile(exhaustiveMs, 0.5), 1)} ms)`)
  for (const share of [0.025, 0.05, 0.1, 0.2]) {
    const budget = Math.round(share * index.prototypes)
    const s = retrievalRecall(index, agents, queries, 5, { truth, scanBudget: budget })
    console.log(`[${label}]   scan ${fmt(share * 100, 1)}% (${budget} prototypes): median ${fmt(quantile(s.latenciesMs, 0.5))} ms, p99 ${fmt(quantile(s.latenciesMs, 0.99))} ms, CPU ${fmt(s.cpuMsPerQuery)} ms/query, recall@5 ${fmt(s.recall)}, score ratio ${scoreOf(s)}`)
  }
  for (const radius of [0, 1]) {
    const c = bucketCoverage(code, agents, queries, truth, radius)
    console.log(`[${label}] DHT bucket code (${code.tables} tables x ${code.bits} hyperplanes, radius ${radius}): ${c.keysProbed} keys probed, true top-5 agents covered ${fmt(c.coverage)}, median ${c.medianAgentsFound} agents found`)
  }

  // The equilibrium for ~20 candidates and a prior of 16 types.
  const grng = seededRng(`core-bench-game:${seed}`)
  const games: GameInput[] = Array.from({ length: 200 }, () => {
    const candidates = Array.from({ length: 20 }, (_, i) => ({ id: `c${i}`, backlog: Math.floor(grng() * 5), serviceMs: 1000 + 3000 * grng(), rttMs: 20 + 130 * grng() }))
    const types = Array.from({ length: 16 }, () => ({ weight: 1, success: candidates.map(() => 0.4 + 0.55 * grng()), localSuccess: 0.3 + 0.5 * grng(), localBacklog: Math.floor(grng() * 3), localServiceMs: 2000, latencyWeight: 0.05 }))
    return { candidates, types, rivals: 8 }
  })
  let iterations = 0
  let converged = 0
  const gameLat = timeEach(games, g => { const eq = equilibriumStrategy(g); iterations += eq.iterations; if (eq.converged) converged++ })
  console.log(`equilibrium (synthetic game: 20 candidates, 16 types, 8 rivals, latency weight 0.05/s): median ${fmt(quantile(gameLat, 0.5))} ms, p99 ${fmt(quantile(gameLat, 0.99))} ms, mean ${fmt(iterations / games.length, 1)} iterations, ${converged}/${games.length} converged`)
  expertiseFigures(set, seed)
  console.log(`total ${fmt((performance.now() - started) / 1000, 1)} s; load average at the end ${loadavg().map(x => fmt(x, 1)).join(' ')} on ${cpus().length} cores (figures are wall and CPU time on a shared machine)`)
}

/**
 * The paper world's embedding space and profiles (ppai bench --scenario paper, this seed): subject and domain top-1
 * of nearest-centroid classification of the asked questions (centroids of the training split), and how well each own
 * agent's predicted success tells its owner's-domain questions from the others (AUC), with no load.
 */
function expertiseFigures (set: QuestionSet, seed: number): void {
  const p = scenarioDefaults('paper')
  p.sim.seed = seed
  const t0 = performance.now()
  const built = buildScenario(set, p)
  const world = built.world
  const testQs = world.pool.all
  // The scenario's own training split: every sound question the run does not ask.
  const asked = new Set(testQs.map(x => x.id))
  const trainSplit = soundQuestions(set).filter(x => !asked.has(x.id))
  const topOne = (key: (q: Question) => string): number => {
    const centroids = new Map<string, Float32Array>()
    for (const q of trainSplit) {
      const c = centroids.get(key(q)) ?? new Float32Array(world.dim)
      const e = world.embed(q)
      for (let i = 0; i < c.length; i++) c[i] += e[i]
      centroids.set(key(q), c)
    }
    let right = 0
    for (const q of testQs) {
      const e = world.embed(q)
      let best = ''
      let bestSim = -Infinity
      for (const [k, c] of centroids) { const s = dot(c, e) / Math.max(1e-12, Math.sqrt(dot(c, c))); if (s > bestSim) { bestSim = s; best = k } }
      if (best === key(q)) right++
    }
    return right / testQs.length
  }
  const q = routingQuality(world, { ownInterestShare: p.sim.ownInterestShare, candidates: p.sim.candidatesPerQuery, seed })
  console.log(`[${set.synthetic ? 'SYNTHETIC' : 'MMLU-Redux'}] paper world (seed ${seed}), space ${built.embedderId} (${built.embedderSource}): nearest-centroid top-1 of the ${testQs.length} asked questions: subject ${fmt(topOne(x => x.subject))}, domain ${fmt(topOne(x => SUBJECT_DOMAINS[x.subject] ?? x.subject))} (centroids from training questions)`)
  // Retrieval in the topic space: the core bench's population of agents, profiled on this world's training split.
  const population = { ...DEFAULT_POPULATION, seed }
  const t1 = performance.now()
  const agents = buildAgentPopulation(trainSplit, x => world.embed(x), { id: world.embedderId, dim: world.dim }, population)
  const index = new CandidateIndex(new BucketCode('core-bench', world.dim))
  for (const a of agents) index.upsert(a.id, a.profile)
  const buildS = (performance.now() - t1) / 1000
  const queries = shuffled(testQs, seededRng(`core-bench-topic-queries:${seed}`)).slice(0, 200).map(x => world.embed(x))
  for (const e of queries.slice(0, 20)) index.candidates(e, 5)
  const { truth, exhaustiveMs } = exhaustiveTopK(agents, queries, 5)
  const r = retrievalRecall(index, agents, queries, 5, { truth })
  console.log(`[${set.synthetic ? 'SYNTHETIC' : 'MMLU-Redux'}] retrieve in the topic space ${built.embedderId} over ${agents.length} agents (profiled on the training split in ${fmt(buildS, 1)} s), ${queries.length} asked questions: median ${fmt(quantile(r.latenciesMs, 0.5))} ms, p99 ${fmt(quantile(r.latenciesMs, 0.99))} ms, CPU ${fmt(r.cpuMsPerQuery)} ms/query, recall@5 ${fmt(r.recall)} (every calibrated profile scored exactly by one ${world.dim}-dim dot product; exhaustive predictSuccess: median ${fmt(quantile(exhaustiveMs, 0.5), 1)} ms)`)
  console.log(`[${set.synthetic ? 'SYNTHETIC' : 'MMLU-Redux'}] own-agent AUC (owner's-domain vs other questions, ${q.pairs} asks of ${Math.min(50, world.agents.length)} agents, no load): ${fmt(q.ownAuc, 3)}; predicted ${fmt(q.ownPredictedIn)} / ${fmt(q.ownPredictedOut)} against right ${fmt(q.ownTrueIn)} / ${fmt(q.ownTrueOut)}; no-load accuracy local ${fmt(q.local)}, best-scored of own + ${p.sim.candidatesPerQuery} candidates ${fmt(q.bestScored)}, truly best of them ${fmt(q.bestTrue)}; the best-scored only when ahead of the own score by ${q.bestScoredAtMargin.map(m => `${m.margin}: ${fmt(m.accuracy)} (${fmt(m.delegated, 2)} delegated)`).join(', ')} (${fmt((performance.now() - t0) / 1000, 1)} s)`)
  // The same world under the scenario's load and churn (as `ppai bench --scenario paper --seed N` runs ppai): where its gain comes from.
  const t2 = performance.now()
  for (const policy of ['ppai', 'greedy'] as const) {
    console.log(`[${set.synthetic ? 'SYNTHETIC' : 'MMLU-Redux'}] paper world (seed ${seed}, load ${p.sim.load}, churn ${p.sim.churn.enabled ? 'on' : 'off'}), gain by source: ${formatGainSources(gainSources(world, p.sim, policy))}`)
  }
  console.log(`[${set.synthetic ? 'SYNTHETIC' : 'MMLU-Redux'}] (gain by source: ${fmt((performance.now() - t2) / 1000, 1)} s)`)
}

if (process.argv[1] != null && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main(process.argv.slice(2))
}
