/**
 * The benchmark scenarios: `paper` (personal agents, each strong on its
 * owner's domain), `subjects` (each strong on three random subjects), `trace`
 * (every agent one of the 14 real models) and `scale` (10,000 agents of the
 * `paper` world, a million queries, churn). Each builds a simulated world from the question
 * set and names every parameter it uses, so that the output can print them.
 */
import { skillProfile, SMALL_MODEL_DEFAULTS } from '../agent/skill-profile.js'
import type { BuildOptions } from '../core/prototypes.js'
import { recordedTrace, type CorrectnessModel } from '../agent/recorded-trace.js'
import { formatQuestion } from '../agent/question-prompt.js'
import { createHashEmbedder } from '../core/embedder.js'
import { createLsaEmbedder, fitLsaSpace } from '../core/lsa.js'
import { DEFAULT_LATENCY_WEIGHT } from '../core/router.js'
import { fnv1a32, seededRng, shuffled } from '../core/rng.js'
import type { Embedder } from '../core/types.js'
import { DOMAIN_SOURCE, domainsOf } from '../data/domains.js'
import { soundQuestions, splitBySubject, type Question, type QuestionSet } from '../data/questions.js'
import type { SimAgentSpec, SimParams, SimWorld } from '../sim/simulator.js'
import { QuestionPool } from '../sim/workload.js'
import { buildInThread, buildWithWorker, startBuildWorker, type BuildOutput, type BuildTask, type WorkerOptions } from './parallel-build.js'

export const SCENARIO_NAMES = ['paper', 'subjects', 'trace', 'scale'] as const
export type ScenarioName = (typeof SCENARIO_NAMES)[number]

/** How the agents of a scenario are made. */
export interface AgentParams {
  agents: number
  /** `personalised`: strong on the owner's subjects (a real model's answers), small model elsewhere; `trace`: one real model each. */
  kind: 'personalised' | 'trace'
  /**
   * What an owner cares about, and so where a personalised agent is strong:
   * `domains`, every subject of one MMLU domain (see src/data/domains.ts);
   * `subjects`, `subjectsPerOwner` random subjects.
   */
  interests: 'domains' | 'subjects'
  /** Subjects each owner cares about in the `subjects` world (personalised agents' strong subjects, and every owner's interests). */
  subjectsPerOwner: number
  /**
   * The embedding space, fitted on the run's training split (question and
   * options): `topics`, one dimension per subject, fitted by a logistic
   * regression of the subject on the TF-IDF words (the split's subject
   * labels say which question is which); `lsa`, an SVD of
   * the split without labels; `hash`, the model-free hashed n-grams.
   */
  embedder: 'topics' | 'lsa' | 'hash'
  /** Dimensions of the `lsa` space. */
  embedderDim: number
  /** How profiles are built and learn; empty = the core's defaults (as on the node). For experiments only. */
  profile: BuildOptions
  smallModelAccuracy: number
  smallModelSubjectSpread: number
  /** Fraction of each subject's questions used for training the profiles; the rest is asked. */
  trainFraction: number
  /** Training questions an agent's profile is built from (drawn with its owner's mix, from the training split only). */
  profileExamples: number
  /** Network id that fixes the bucket code of candidate retrieval. */
  networkId: string
  /**
   * 0: every agent has its own owner, model and profile. N > 0: the agents are
   * replicas of N personas (same owner interests, model and profile; own
   * device, churn, round trips and arrivals), so that 10,000 agents need only
   * N profiles built and indexed.
   */
  personas: number
}

/** Everything a scenario needs: the simulator's parameters and the agents'. */
export interface ScenarioParams {
  sim: SimParams
  agents: AgentParams
}

const BASE_SIM: SimParams = {
  seed: 1,
  queries: 20_000,
  load: 0.7,
  ownInterestShare: 0.5,
  burstFactor: 4,
  burstFraction: 0.1,
  meanBurstMs: 20_000,
  device: { prefillMs: 400, outputTokensMin: 40, outputTokensMax: 200, tokensPerSecMin: 15, tokensPerSecMax: 45 },
  network: { rttMinMs: 20, rttMaxMs: 150, gossipDelayMs: 100, dialFailureMs: 1000 },
  churn: { enabled: true, meanOnlineMs: 600_000, meanOfflineMs: 120_000 },
  beaconPeriodMs: 2000,
  beaconScope: 'all',
  recordTtlMs: 30_000,
  failureBackoffMs: 30_000,
  candidatesPerQuery: 10,
  maxRemoteAttempts: 3,
  // As the node's defaults (src/net/node.ts), so that the simulator decides as a node would.
  latencyWeight: DEFAULT_LATENCY_WEIGHT,
  rateMeterTauMs: 30_000,
  ownerWaitBoundMs: null,
  maxRemoteQueued: null,
  expertAdmission: true,
  drainLimitMs: 3_600_000,
  learnDuringRun: true,
  kernel: {}
}

const BASE_AGENTS: AgentParams = {
  agents: 50,
  kind: 'personalised',
  interests: 'domains',
  subjectsPerOwner: 3,
  embedder: 'topics',
  embedderDim: 128,
  profile: {},
  ...SMALL_MODEL_DEFAULTS,
  trainFraction: 0.3,
  profileExamples: 150,
  networkId: 'ppai-bench',
  personas: 0
}

/** The default parameters of a scenario (before flags). */
export function scenarioDefaults (name: ScenarioName): ScenarioParams {
  switch (name) {
    case 'paper':
      return { sim: structuredClone(BASE_SIM), agents: { ...BASE_AGENTS } }
    case 'subjects':
      return { sim: structuredClone(BASE_SIM), agents: { ...BASE_AGENTS, interests: 'subjects' } }
    case 'trace':
      return { sim: { ...structuredClone(BASE_SIM), ownInterestShare: 0 }, agents: { ...BASE_AGENTS, kind: 'trace', agents: 28, interests: 'subjects', subjectsPerOwner: 0 } }
    case 'scale':
      return {
        sim: { ...structuredClone(BASE_SIM), queries: 1_000_000, beaconScope: 'candidates', candidatesPerQuery: 8 },
        agents: { ...BASE_AGENTS, agents: 10_000, personas: 1000 }
      }
  }
}

/** A built scenario: the world to simulate and what it rests on. */
export interface BuiltScenario {
  world: SimWorld
  synthetic: boolean
  source: string
  /** Questions asked (held out) and used for training. */
  testQuestions: number
  trainQuestions: number
  models: string[]
  embedderId: string
  /** How the embedding space was made. */
  embedderSource: string
  /** Where the owners' interests come from. */
  interestsSource: string
  /** Threads that built the profiles and rankings (1, or 2 with a worker), and what the worker built. */
  threads: number
  byWorker: { profiles: number, rankings: number }
}

/** The options of {@link buildScenarioParallel}. */
export interface ParallelBuildOptions {
  /** `auto` (default): a worker thread for a world of at least {@link PARALLEL_MIN_PROFILES} profiles; `never`; `always`. */
  worker?: 'auto' | 'never' | 'always'
  /** Where the worker is and how it starts (tests point it at the TypeScript sources). */
  workerOptions?: WorkerOptions
}

/**
 * Profiles from which a second thread pays for itself. Starting a worker and
 * training its copy of the index costs a few hundred milliseconds; below
 * about 2,000 prototypes the index scans every one (the paper world: 50
 * profiles, about a second to build on one thread), above it a ranking costs
 * far more than its share of that.
 */
export const PARALLEL_MIN_PROFILES = 256

/** Builds the agents, their profiles (training split only) and the candidate index, on this thread. */
export function buildScenario (set: QuestionSet, p: ScenarioParams): BuiltScenario {
  const drawn = drawScenario(set, p)
  return assemble(set, p, drawn, buildInThread(drawn.task, embedQueries(drawn)))
}

/**
 * Like {@link buildScenario}, with a worker thread sharing the profiles and
 * rankings when the world is large: the same world, bit for bit, sooner.
 */
export async function buildScenarioParallel (set: QuestionSet, p: ScenarioParams, opts: ParallelBuildOptions = {}): Promise<BuiltScenario> {
  const mode = opts.worker ?? 'auto'
  const wanted = mode === 'always' || (mode === 'auto' && personaCountOf(p) >= PARALLEL_MIN_PROFILES)
  // Started first: the worker loads its modules while this thread draws the world.
  const worker = wanted ? startBuildWorker(opts.workerOptions) : undefined
  let drawn: DrawnScenario
  try {
    drawn = drawScenario(set, p)
  } catch (err) {
    await worker?.terminate()
    throw err
  }
  const output = worker !== undefined ? await buildWithWorker(drawn.task, () => embedQueries(drawn), worker) : buildInThread(drawn.task, embedQueries(drawn))
  return assemble(set, p, drawn, output)
}

function personaCountOf (p: ScenarioParams): number {
  return p.agents.personas > 0 ? Math.min(p.agents.personas, p.agents.agents) : p.agents.agents
}

interface Persona { id: string, model: CorrectnessModel, interests: string[] }

/** Everything drawn with the scenario's rng, in the order it always was: the splits, personas, their examples, the agents' speeds. */
interface DrawnScenario {
  embedder: Embedder
  embed: (q: Question) => Float32Array
  pool: QuestionPool
  train: Question[]
  test: Question[]
  models: string[]
  personas: Persona[]
  speedDraws: number[]
  task: BuildTask
  embedderSource: string
  interestsSource: string
}

function drawScenario (set: QuestionSet, p: ScenarioParams): DrawnScenario {
  const seed = p.sim.seed >>> 0
  const rng = seededRng(fnv1a32('scenario', seed))
  const sound = soundQuestions(set)
  const { train, test } = splitBySubject(sound, p.agents.trainFraction, rng)
  if (test.length === 0 || train.length === 0) throw new RangeError('the split left no training or no test questions')
  // The space is fitted on the training split only: never on a question the run asks.
  const embedderSource = p.agents.embedder === 'topics'
    ? `topic space fitted on the run's training split (${train.length} questions with their options and subject labels; one dimension per subject, logistic regression on TF-IDF words)`
    : p.agents.embedder === 'lsa'
      ? `LSA fitted on the run's training split (${train.length} questions with their options; seed ${seed})`
      : 'model-free hashed n-grams (nothing fitted)'
  const space = p.agents.embedder === 'hash'
    ? undefined
    : fitLsaSpace(train.map(formatQuestion), { dim: p.agents.embedderDim, seed, source: embedderSource, labels: p.agents.embedder === 'topics' ? train.map(q => q.subject) : undefined })
  const embedder = space !== undefined ? createLsaEmbedder(space) : createHashEmbedder()
  const cache = new Map<string, Float32Array>()
  const embed = (q: Question): Float32Array => {
    let e = cache.get(q.id)
    if (e === undefined) {
      // As a node receives it: the question with its lettered options.
      e = embedder.embed(formatQuestion(q))
      cache.set(q.id, e)
    }
    return e
  }
  const pool = new QuestionPool(test)
  const trainPool = new QuestionPool(train)
  const subjects = pool.subjects()
  const domains = [...domainsOf(subjects).values()]
  const domainOrder = shuffled(domains, rng)
  const models = set.models
  const dim = embedder.dim
  // A persona is one (owner interests, answering model, profile); without personas every agent is its own.
  const personaCount = personaCountOf(p)
  const personas: Persona[] = []
  // Training questions by row of a flat table, in the order first drawn: the examples refer to rows.
  const trainRows = new Map<string, number>()
  const trainVectors: Float32Array[] = []
  const m = p.agents.profileExamples
  const exampleRows = new Int32Array(personaCount * m)
  const exampleOutcomes = new Uint8Array(personaCount * m)
  for (let k = 0; k < personaCount; k++) {
    const id = p.agents.personas > 0 ? `persona-${String(k).padStart(5, '0')}` : agentId(k)
    let model: CorrectnessModel
    let interests: string[]
    if (p.agents.kind === 'trace') {
      model = recordedTrace(models[k % models.length])
      interests = p.agents.subjectsPerOwner > 0 ? shuffled(subjects, rng).slice(0, p.agents.subjectsPerOwner) : []
    } else {
      // Domains are dealt in a shuffled order, so that every domain has its experts before any has two.
      interests = p.agents.interests === 'domains' ? domainOrder[k % domainOrder.length] : shuffled(subjects, rng).slice(0, p.agents.subjectsPerOwner)
      model = skillProfile({
        agentId: id,
        ownerSubjects: interests,
        expertModel: models[Math.floor(rng() * models.length)],
        smallModelAccuracy: p.agents.smallModelAccuracy,
        smallModelSubjectSpread: p.agents.smallModelSubjectSpread,
        seed
      })
    }
    for (let n = 0; n < m; n++) {
      const q = trainPool.draw(interests, p.sim.ownInterestShare, rng)
      let row = trainRows.get(q.id)
      if (row === undefined) {
        row = trainVectors.length
        trainRows.set(q.id, row)
        trainVectors.push(embed(q))
      }
      exampleRows[k * m + n] = row
      exampleOutcomes[k * m + n] = model.correct(q) ? 1 : 0
    }
    personas.push({ id, model, interests })
  }
  const speedDraws: number[] = []
  for (let i = 0; i < p.agents.agents; i++) speedDraws.push(rng())
  const task: BuildTask = {
    embedderId: embedder.id,
    dim,
    networkId: p.agents.networkId,
    kernel: p.sim.kernel,
    profile: p.agents.profile,
    reference: space?.reference ?? [],
    personaIds: personas.map(x => x.id),
    trainEmbeddings: flatten(trainVectors, dim),
    examplesPerPersona: m,
    exampleRows,
    exampleOutcomes,
    // Records of agents that left stay listed for a while: retrieve more than needed, the simulator filters.
    limit: Math.min(personaCount, 2 * p.sim.candidatesPerQuery + 1)
  }
  const interestsSource = p.agents.kind === 'trace'
    ? (p.agents.subjectsPerOwner > 0 ? `${p.agents.subjectsPerOwner} random subjects per owner` : 'none: every owner asks from all subjects')
    : p.agents.interests === 'domains' ? `one domain per owner, ${domains.length} domains: ${DOMAIN_SOURCE}` : `${p.agents.subjectsPerOwner} random subjects per owner`
  return { embedder, embed, pool, train, test, models, personas, speedDraws, task, embedderSource, interestsSource }
}

/** The asked questions' embeddings, flat, in the pool's order. */
function embedQueries (drawn: DrawnScenario): Float32Array {
  return flatten(drawn.pool.all.map(drawn.embed), drawn.task.dim)
}

function flatten (rows: Float32Array[], dim: number): Float32Array {
  const out = new Float32Array(rows.length * dim)
  rows.forEach((r, i) => out.set(r, i * dim))
  return out
}

/** The world from what was drawn and what was built. */
function assemble (set: QuestionSet, p: ScenarioParams, drawn: DrawnScenario, output: BuildOutput): BuiltScenario {
  const { embedder, embed, pool, personas } = drawn
  const personaCount = personas.length
  const agents: SimAgentSpec[] = []
  const replicas: number[][] = personas.map(() => [])
  for (let i = 0; i < p.agents.agents; i++) {
    const k = i % personaCount
    replicas[k].push(i)
    agents.push({ id: agentId(i), model: personas[k].model, profile: output.profiles[k], interests: personas[k].interests, speedDraw: drawn.speedDraws[i] })
  }
  // Retrieval is cached per question: a profile does not change during a run.
  const ranked = new Map<string, number[]>()
  pool.all.forEach((q, n) => { if (!ranked.has(q.id)) ranked.set(q.id, output.rankings[n]) })
  const rankedPersonas = (q: Question): number[] => {
    let list = ranked.get(q.id)
    if (list === undefined) {
      list = output.ranker.rank(embed(q))
      ranked.set(q.id, list)
    }
    return list
  }
  const retrieve = (q: Question, user: number): number[] => {
    const order = rankedPersonas(q)
    if (p.agents.personas <= 0) return order
    // The index ranks personas; a replica stands for an agent of its own, with a profile like its persona's. Each
    // user lists one replica of each persona, from its own offset, so that its candidates are as many distinct agents
    // as in a world without personas and equal profiles do not send every asker of a question to the same replicas.
    return order.map(k => replicas[k][user % replicas[k].length])
  }
  return {
    world: { agents, pool, embedderId: embedder.id, dim: embedder.dim, embed, retrieve },
    synthetic: set.synthetic,
    source: set.source,
    testQuestions: drawn.test.length,
    trainQuestions: drawn.train.length,
    models: drawn.models,
    embedderId: embedder.id,
    embedderSource: drawn.embedderSource,
    interestsSource: drawn.interestsSource,
    threads: output.threads,
    byWorker: output.byWorker
  }
}

function agentId (i: number): string {
  return `agent-${String(i).padStart(5, '0')}`
}
