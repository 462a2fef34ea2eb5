/**
 * A small paper-like world built from the TRAINING split only, for
 * calibration: personalised agents (src/agent/skill-profile.ts) whose profiles
 * come from one half of each subject's training questions, asked questions
 * from the other half. Nothing here touches the benchmark's test split.
 */
import { skillProfile, SMALL_MODEL_DEFAULTS } from '../../../src/agent/skill-profile.js'
import type { CorrectnessModel } from '../../../src/agent/recorded-trace.js'
import { createHashEmbedder } from '../../../src/core/embedder.js'
import { buildProfile } from '../../../src/core/prototypes.js'
import { seededRng, shuffled } from '../../../src/core/rng.js'
import { predictSuccess, type ScoringOptions } from '../../../src/core/scoring.js'
import type { Profile, Rng } from '../../../src/core/types.js'
import { soundQuestions, splitBySubject, type Question, type QuestionSet } from '../../../src/data/questions.js'

/** The world's named parameters (as the paper scenario's agents: 3 owner subjects, 150 profile examples, half on own interests). */
export interface WorldParams {
  agents: number
  subjectsPerOwner: number
  profileExamples: number
  ownInterestShare: number
  /** Training fraction of the split (the paper scenario's 0.3); only `train` is used. */
  trainFraction: number
  /** Questions each agent asks (from the held-out half of the training split). */
  asked: number
  seed: string
  /** Experiment: prototypes per profile and embedder dim. */
  maxPrototypes?: number
  dim?: number
}

export const WORLD_DEFAULTS: WorldParams = { agents: 24, subjectsPerOwner: 3, profileExamples: 150, ownInterestShare: 0.5, trainFraction: 0.3, asked: 60, seed: 'calibration' }

export interface Agent { id: string, interests: string[], model: CorrectnessModel, profile: Profile }
export interface World { agents: Agent[], asks: Array<{ asker: number, q: Question, e: Float32Array }> }

function draw (pool: Map<string, Question[]>, all: Question[], interests: string[], share: number, rng: Rng): Question {
  if (interests.length > 0 && rng() < share) {
    const list = pool.get(interests[Math.floor(rng() * interests.length)]) ?? all
    return list[Math.floor(rng() * list.length)]
  }
  return all[Math.floor(rng() * all.length)]
}

function bySubject (qs: Question[]): Map<string, Question[]> {
  const m = new Map<string, Question[]>()
  for (const q of qs) m.set(q.subject, [...(m.get(q.subject) ?? []), q])
  return m
}

/** Builds the agents and the questions they ask, all from the training split. */
export function buildWorld (set: QuestionSet, p: WorldParams = WORLD_DEFAULTS): World {
  const rng = seededRng(p.seed)
  const embedder = createHashEmbedder({ dim: p.dim ?? 256 })
  const { train } = splitBySubject(soundQuestions(set), p.trainFraction, rng)
  // Within the training split: one half builds profiles, the other is asked.
  const { train: fit, test: held } = splitBySubject(train, 0.5, rng)
  const fitBy = bySubject(fit)
  const heldBy = bySubject(held)
  const subjects = [...fitBy.keys()].filter(s => heldBy.has(s)).sort()
  const cache = new Map<string, Float32Array>()
  const embed = (q: Question): Float32Array => {
    let e = cache.get(q.id)
    if (e === undefined) { e = embedder.embed(q.question); cache.set(q.id, e) }
    return e
  }
  const agents: Agent[] = []
  for (let a = 0; a < p.agents; a++) {
    const id = `agent-${a}`
    const interests = shuffled(subjects, rng).slice(0, p.subjectsPerOwner)
    const model = skillProfile({ agentId: id, ownerSubjects: interests, expertModel: set.models[Math.floor(rng() * set.models.length)], ...SMALL_MODEL_DEFAULTS, seed: 7 })
    const examples = Array.from({ length: p.profileExamples }, () => {
      const q = draw(fitBy, fit, interests, p.ownInterestShare, rng)
      return { embedding: embed(q), outcome: model.correct(q) ? 1 : 0 }
    })
    agents.push({ id, interests, model, profile: buildProfile(embedder.id, embedder.dim, examples, { maxPrototypes: p.maxPrototypes }) })
  }
  const asks = agents.flatMap((agent, asker) => Array.from({ length: p.asked }, () => {
    const q = draw(heldBy, held, agent.interests, p.ownInterestShare, rng)
    return { asker, q, e: embed(q) }
  }))
  return { agents, asks }
}

/** Reliability of predicted success: per bin, mean predicted and observed rate. */
export interface Reliability {
  brier: number
  /** Brier score of always predicting the overall rate: what a useless predictor scores. */
  brierConstant: number
  bins: Array<{ from: number, to: number, n: number, predicted: number, observed: number }>
  /** Expected calibration error: |predicted − observed| weighted by bin size. */
  ece: number
  /** Accuracy when each asker picks the agent with the highest predicted success (own included), of the local agent alone, and of an oracle over the same agents. */
  greedy: number
  local: number
  oracle: number
  /** The own agent's mean predicted and observed success on its owner's questions. */
  ownPredicted: number
  ownObserved: number
  /** Mean predicted and observed success of the agent greedy picked when it was not the own one, and how often that happened. */
  delegatedPredicted: number
  delegatedObserved: number
  delegated: number
}

/** Scores every (asked question, agent) pair; bins of width `binWidth`. */
export function evaluate (world: World, opts: ScoringOptions | undefined, binWidth = 0.1): Reliability {
  const pairs: Array<{ p: number, y: number }> = []
  const own: Array<{ p: number, y: number }> = []
  const delegated: Array<{ p: number, y: number }> = []
  let greedy = 0
  let local = 0
  let oracle = 0
  for (const ask of world.asks) {
    let best = -1
    let bestP = -Infinity
    let anyRight = 0
    world.agents.forEach((agent, i) => {
      const p = predictSuccess(agent.profile, ask.e, i === ask.asker ? { ...opts, background: 'pooled' } : opts).mean
      const y = agent.model.correct(ask.q) ? 1 : 0
      pairs.push({ p, y })
      if (i === ask.asker) own.push({ p, y })
      anyRight = Math.max(anyRight, y)
      // Ties go to the own agent: delegating must be worth it.
      if (p > bestP || (p === bestP && i === ask.asker)) { bestP = p; best = i }
    })
    greedy += world.agents[best].model.correct(ask.q) ? 1 : 0
    if (best !== ask.asker) { delegated.push({ p: bestP, y: world.agents[best].model.correct(ask.q) ? 1 : 0 }) }
    local += world.agents[ask.asker].model.correct(ask.q) ? 1 : 0
    oracle += anyRight
  }
  const rate = pairs.reduce((a, x) => a + x.y, 0) / pairs.length
  const nb = Math.round(1 / binWidth)
  const bins = Array.from({ length: nb }, (_, b) => ({ from: b * binWidth, to: (b + 1) * binWidth, n: 0, predicted: 0, observed: 0 }))
  let brier = 0
  let brierConstant = 0
  for (const { p, y } of pairs) {
    brier += (p - y) ** 2
    brierConstant += (rate - y) ** 2
    const bin = bins[Math.min(nb - 1, Math.floor(p / binWidth))]
    bin.n++
    bin.predicted += p
    bin.observed += y
  }
  for (const bin of bins) if (bin.n > 0) { bin.predicted /= bin.n; bin.observed /= bin.n }
  const ece = bins.reduce((a, b) => a + b.n * Math.abs(b.predicted - b.observed), 0) / pairs.length
  const n = world.asks.length
  return { brier: brier / pairs.length, brierConstant: brierConstant / pairs.length, bins: bins.filter(b => b.n > 0), ece, greedy: greedy / n, local: local / n, oracle: oracle / n,
    ownPredicted: meanOf(own, x => x.p), ownObserved: meanOf(own, x => x.y),
    delegatedPredicted: meanOf(delegated, x => x.p), delegatedObserved: meanOf(delegated, x => x.y), delegated: delegated.length / n }
}

function meanOf<T> (xs: T[], f: (x: T) => number): number {
  return xs.length === 0 ? Number.NaN : xs.reduce((a, x) => a + f(x), 0) / xs.length
}

/**
 * What routing by subject could gain at best: each asker picks the agent whose
 * TRUE accuracy on the question's subject (over the whole data set) is
 * highest, own agent on ties. An upper bound for any predictor that knows an
 * agent's skill per subject but not per question.
 */
export function subjectLevelBound (world: World, set: QuestionSet): { greedy: number, local: number, delegated: number } {
  const rates = world.agents.map(agent => {
    const bySubject = new Map<string, { right: number, n: number }>()
    for (const q of soundQuestions(set)) {
      const r = bySubject.get(q.subject) ?? { right: 0, n: 0 }
      r.right += agent.model.correct(q) ? 1 : 0
      r.n += 1
      bySubject.set(q.subject, r)
    }
    return bySubject
  })
  const rateOf = (i: number, subject: string): number => {
    const r = rates[i].get(subject)
    return r == null ? 0 : r.right / r.n
  }
  let greedy = 0
  let local = 0
  let delegated = 0
  for (const ask of world.asks) {
    let best = ask.asker
    for (let i = 0; i < world.agents.length; i++) if (rateOf(i, ask.q.subject) > rateOf(best, ask.q.subject)) best = i
    greedy += world.agents[best].model.correct(ask.q) ? 1 : 0
    local += world.agents[ask.asker].model.correct(ask.q) ? 1 : 0
    if (best !== ask.asker) delegated++
  }
  const n = world.asks.length
  return { greedy: greedy / n, local: local / n, delegated: delegated / n }
}
