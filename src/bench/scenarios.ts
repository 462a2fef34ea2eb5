/**
 * The benchmark scenarios: `paper` (personalised edge agents), `trace` (every
 * agent one of the 14 real models) and `scale` (10,000 personalised agents,
 * a million queries, churn). Each builds a simulated world from the question
 * set and names every parameter it uses, so that the output can print them.
 */
import { skillProfile, SMALL_MODEL_DEFAULTS } from '../agent/skill-profile.js'
import { recordedTrace, type CorrectnessModel } from '../agent/recorded-trace.js'
import { createHashEmbedder } from '../core/embedder.js'
import { buildProfile } from '../core/prototypes.js'
import { BucketCode, CandidateIndex } from '../core/retrieval.js'
import { DEFAULT_LATENCY_WEIGHT } from '../core/router.js'
import { fnv1a32, seededRng, shuffled } from '../core/rng.js'
import type { Profile } from '../core/types.js'
import { soundQuestions, splitBySubject, type Question, type QuestionSet } from '../data/questions.js'
import type { SimAgentSpec, SimParams, SimWorld } from '../sim/simulator.js'
import { QuestionPool } from '../sim/workload.js'

export const SCENARIO_NAMES = ['paper', 'trace', 'scale'] as const
export type ScenarioName = (typeof SCENARIO_NAMES)[number]

/** How the agents of a scenario are made. */
export interface AgentParams {
  agents: number
  /** `personalised`: strong on the owner's subjects (a real model's answers), small model elsewhere; `trace`: one real model each. */
  kind: 'personalised' | 'trace'
  /** Subjects each owner cares about (personalised agents' strong subjects, and every owner's interests). */
  subjectsPerOwner: number
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
  maxRemoteQueued: 4,
  drainLimitMs: 3_600_000,
  kernel: {}
}

const BASE_AGENTS: AgentParams = {
  agents: 50,
  kind: 'personalised',
  subjectsPerOwner: 3,
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
    case 'trace':
      return { sim: { ...structuredClone(BASE_SIM), ownInterestShare: 0 }, agents: { ...BASE_AGENTS, kind: 'trace', agents: 28, subjectsPerOwner: 0 } }
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
}

/** Builds the agents, their profiles (training split only) and the candidate index. */
export function buildScenario (set: QuestionSet, p: ScenarioParams): BuiltScenario {
  const seed = p.sim.seed >>> 0
  const rng = seededRng(fnv1a32('scenario', seed))
  const sound = soundQuestions(set)
  const { train, test } = splitBySubject(sound, p.agents.trainFraction, rng)
  if (test.length === 0 || train.length === 0) throw new RangeError('the split left no training or no test questions')
  const embedder = createHashEmbedder()
  const cache = new Map<string, Float32Array>()
  const embed = (q: Question): Float32Array => {
    let e = cache.get(q.id)
    if (e === undefined) {
      e = embedder.embed(q.question)
      cache.set(q.id, e)
    }
    return e
  }
  const pool = new QuestionPool(test)
  const trainPool = new QuestionPool(train)
  const subjects = pool.subjects()
  const models = set.models
  // A persona is one (owner interests, answering model, profile); without personas every agent is its own.
  const personaCount = p.agents.personas > 0 ? Math.min(p.agents.personas, p.agents.agents) : p.agents.agents
  const personas: Array<{ id: string, model: CorrectnessModel, interests: string[], profile: Profile }> = []
  for (let k = 0; k < personaCount; k++) {
    const id = p.agents.personas > 0 ? `persona-${String(k).padStart(5, '0')}` : agentId(k)
    let model: CorrectnessModel
    let interests: string[]
    if (p.agents.kind === 'trace') {
      model = recordedTrace(models[k % models.length])
      interests = p.agents.subjectsPerOwner > 0 ? shuffled(subjects, rng).slice(0, p.agents.subjectsPerOwner) : []
    } else {
      interests = shuffled(subjects, rng).slice(0, p.agents.subjectsPerOwner)
      model = skillProfile({
        agentId: id,
        ownerSubjects: interests,
        expertModel: models[Math.floor(rng() * models.length)],
        smallModelAccuracy: p.agents.smallModelAccuracy,
        smallModelSubjectSpread: p.agents.smallModelSubjectSpread,
        seed
      })
    }
    const examples: Array<{ embedding: Float32Array, outcome: number }> = []
    for (let n = 0; n < p.agents.profileExamples; n++) {
      const q = trainPool.draw(interests, p.sim.ownInterestShare, rng)
      examples.push({ embedding: embed(q), outcome: model.correct(q) ? 1 : 0 })
    }
    personas.push({ id, model, interests, profile: buildProfile(embedder.id, embedder.dim, examples) })
  }
  const agents: SimAgentSpec[] = []
  const replicas: number[][] = personas.map(() => [])
  for (let i = 0; i < p.agents.agents; i++) {
    const persona = personas[i % personaCount]
    replicas[i % personaCount].push(i)
    agents.push({ id: agentId(i), model: persona.model, profile: persona.profile, interests: persona.interests, speedDraw: rng() })
  }
  // The index holds one entry per distinct profile: the agents themselves, or the personas.
  const index = new CandidateIndex(new BucketCode(p.agents.networkId, embedder.dim), p.sim.kernel)
  for (const persona of personas) index.upsert(persona.id, persona.profile)
  const personaIndex = new Map(personas.map((x, k) => [x.id, k]))
  // Records of agents that left stay listed for a while: retrieve more than needed, the simulator filters.
  const limit = Math.min(personaCount, 2 * p.sim.candidatesPerQuery + 1)
  const ranked = new Map<string, number[]>()
  const rankedPersonas = (q: Question): number[] => {
    let list = ranked.get(q.id)
    if (list === undefined) {
      list = index.candidates(embed(q), limit).map(id => personaIndex.get(id) ?? -1).filter(k => k >= 0)
      ranked.set(q.id, list)
    }
    return list
  }
  const want = 2 * p.sim.candidatesPerQuery + 1
  const retrieve = (q: Question, user: number): number[] => {
    const order = rankedPersonas(q)
    if (p.agents.personas <= 0) return order
    // Replicas of one persona are equally good: each user lists them from its own offset, so ties do not all go to the first.
    const out: number[] = []
    for (const k of order) {
      const group = replicas[k]
      const start = user % group.length
      for (let r = 0; r < group.length && out.length < want; r++) out.push(group[(start + r) % group.length])
      if (out.length >= want) break
    }
    return out
  }
  // Retrieval is cached per question: a profile does not change during a run.
  for (const q of pool.all) rankedPersonas(q)
  return {
    world: { agents, pool, embedderId: embedder.id, dim: embedder.dim, embed, retrieve },
    synthetic: set.synthetic,
    source: set.source,
    testQuestions: test.length,
    trainQuestions: train.length,
    models,
    embedderId: embedder.id
  }
}

function agentId (i: number): string {
  return `agent-${String(i).padStart(5, '0')}`
}
