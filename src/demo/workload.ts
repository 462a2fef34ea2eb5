/**
 * The demo's workload, planned up front from the seed so every policy meets
 * the same owners, the same questions at the same times and the same churn:
 * owners' subjects and expert models, warm-up questions from the training
 * split, test questions arriving per owner (bursty Poisson, skewed toward the
 * owner's interests), and when which node drops out.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { personalAgentChoice } from '../agent/index.js'
import { formatQuestion } from '../agent/question-prompt.js'
import { EDGE_DEVICE, serviceTimeMs, type ServiceTimeParams } from '../agent/service-time.js'
import { encodeLsaSpace, fitLsaSpace } from '../core/lsa.js'
import { seededRng, shuffled } from '../core/rng.js'
import { DOMAIN_SOURCE, domainsOf } from '../data/domains.js'
import { soundQuestions, splitBySubject, type Question, type QuestionSet } from '../data/questions.js'
import { BurstyArrivals, QuestionPool } from '../sim/workload.js'

/** Every parameter of the demo workload, printed with the results. */
export interface DemoWorkloadParams {
  nodes: number
  queries: number
  seed: number
  /**
   * What each owner cares about, and so where its agent is strong (a real model's recorded answers there):
   * `domains`, every subject of one MMLU domain (as `ppai bench --scenario paper`); `subjects`, `ownerSubjectCount` random subjects.
   */
  interests: 'domains' | 'subjects'
  /** Subjects each owner cares about in the `subjects` world. */
  ownerSubjectCount: number
  /** Share of an owner's questions drawn from its own subjects; the rest from all test questions. */
  ownInterestShare: number
  /** Share of each subject's sound questions used for warm-up; the rest is the test split. */
  trainFraction: number
  /** Training questions each node answers itself (with feedback) before the run, to seed its profile. */
  warmupPerNode: number
  /** Offered load per node: arrival rate × mean service time. */
  offeredLoad: number
  burstFactor: number
  burstFraction: number
  /** Mean burst length, ms of demo (wall) time. */
  meanBurstMs: number
  /** Churn: mean time between two departures, ms; 0 = no churn. */
  churnEveryMs: number
  /** Churn: how long a departed node stays away, ms. */
  churnDownMs: number
  service: ServiceTimeParams
}

/** The owners' worlds of the demo and the soak, and what `--interests` says of them. */
export const OWNER_WORLDS = ['domains', 'subjects'] as const
export const OWNER_WORLDS_HELP = 'what owners care about: domains (one MMLU domain each, as bench --scenario paper) or subjects (random subjects each, as --scenario subjects)'

export const DEFAULT_WORKLOAD: Omit<DemoWorkloadParams, 'nodes' | 'queries' | 'seed' | 'churnEveryMs'> = {
  interests: 'domains',
  ownerSubjectCount: 3,
  ownInterestShare: 0.5,
  trainFraction: 0.3,
  warmupPerNode: 150,
  offeredLoad: 0.7,
  burstFactor: 4,
  burstFraction: 0.1,
  meanBurstMs: 2_000,
  churnDownMs: 3_000,
  service: { ...EDGE_DEVICE, timeScale: 0.05 }
}

export interface Owner {
  name: string
  subjects: string[]
  expertModel: string
}

export interface PlannedQuery {
  seq: number
  node: number
  question: Question
  /** ms after the start of the run. */
  at: number
}

export interface ChurnEvent {
  node: number
  /** ms after the start of the run. */
  at: number
  downMs: number
}

export interface DemoWorkload {
  params: DemoWorkloadParams
  owners: Owner[]
  /** Where the owners' interests come from. */
  interestsSource: string
  /** The training split (warm-up questions are drawn from it; the embedding space is fitted on it). */
  train: Question[]
  /** Per node, the training questions it answers itself before the run. */
  warmup: Question[][]
  queries: PlannedQuery[]
  churn: ChurnEvent[]
  /** Mean service time of one test question on one node, ms (scaled). */
  meanServiceMs: number
  /** Per node, arrivals per second. */
  ratePerNode: number
}

/** Node names, the same in the workload and in the cluster. */
export function nodeName (i: number): string {
  return `node-${String(i).padStart(2, '0')}`
}

/** Plans the whole demo workload from its parameters. */
export function planWorkload (set: QuestionSet, params: DemoWorkloadParams): DemoWorkload {
  const rng = seededRng(`${params.seed}|demo-workload`)
  const { train, test } = splitBySubject(soundQuestions(set), params.trainFraction, rng)
  const owners: Owner[] = []
  // Domains dealt in a shuffled order, so that every domain has an expert before any has two.
  const domains = shuffled([...domainsOf(set.subjects).values()], rng)
  for (let i = 0; i < params.nodes; i++) {
    const ownerSubjects = params.interests === 'domains' ? domains[i % domains.length].join(',') : undefined
    const choice = personalAgentChoice(set, { name: nodeName(i), simSeed: params.seed, ownerSubjectCount: params.ownerSubjectCount, ownerSubjects })
    owners.push({ name: nodeName(i), subjects: choice.ownerSubjects, expertModel: choice.expertModel })
  }
  const interestsSource = params.interests === 'domains' ? `one domain per owner: ${DOMAIN_SOURCE}` : `${params.ownerSubjectCount} random subjects per owner`
  const trainPool = new QuestionPool(train)
  const testPool = new QuestionPool(test)
  const warmup = owners.map(o => Array.from({ length: params.warmupPerNode }, () => trainPool.draw(o.subjects, params.ownInterestShare, rng)))

  let total = 0
  for (const q of test) total += serviceTimeMs(formatQuestion(q).length, params.service)
  const meanServiceMs = total / test.length
  const ratePerNode = meanServiceMs > 0 ? params.offeredLoad * 1000 / meanServiceMs : 10

  // Each owner's arrivals, merged in time; the first `queries` of them are the run.
  const arrivalParams = { meanRatePerSec: ratePerNode, burstFactor: params.burstFactor, burstFraction: params.burstFraction, meanBurstMs: params.meanBurstMs }
  const streams = owners.map((_, i) => new BurstyArrivals(arrivalParams, seededRng(`${params.seed}|arrivals|${i}`)))
  const nextAt = streams.map(s => s.next(0))
  const queries: PlannedQuery[] = []
  for (let seq = 0; seq < params.queries; seq++) {
    let node = 0
    for (let i = 1; i < nextAt.length; i++) if (nextAt[i] < nextAt[node]) node = i
    const at = nextAt[node]
    if (!Number.isFinite(at)) break
    queries.push({ seq, node, question: testPool.draw(owners[node].subjects, params.ownInterestShare, rng), at })
    nextAt[node] = streams[node].next(at)
  }

  const churn: ChurnEvent[] = []
  const runMs = queries.at(-1)?.at ?? 0
  if (params.churnEveryMs > 0 && params.nodes > 2) {
    const churnRng = seededRng(`${params.seed}|churn`)
    // Node 0 is the bootstrap peer and stays; at most a quarter of the others are away at once.
    const maxAway = Math.max(1, Math.floor((params.nodes - 1) / 4))
    for (let t = params.churnEveryMs * (0.5 + churnRng()); t < runMs; t += params.churnEveryMs * (0.5 + churnRng())) {
      const away = churn.filter(e => e.at <= t && t < e.at + e.downMs).map(e => e.node)
      if (away.length >= maxAway) continue
      const present = Array.from({ length: params.nodes - 1 }, (_, k) => k + 1).filter(k => !away.includes(k))
      churn.push({ node: present[Math.floor(churnRng() * present.length)], at: t, downMs: params.churnDownMs })
    }
  }
  return { params, owners, interestsSource, train, warmup, queries, churn, meanServiceMs, ratePerNode }
}

/**
 * Fits the nodes' embedding space on the workload's training split (question
 * and options, as a node receives them; never a question the run asks) and
 * writes it to `rootDir/space.lsa`, for `ppai node --embedder lsa:<file>`.
 */
export function writeSpaceFile (rootDir: string, workload: DemoWorkload): string {
  const source = `topic space fitted on the demo's training split (${workload.train.length} questions with their options and subject labels; one dimension per subject, logistic regression on TF-IDF words)`
  const space = fitLsaSpace(workload.train.map(formatQuestion), { seed: workload.params.seed, source, labels: workload.train.map(q => q.subject) })
  const file = join(rootDir, 'space.lsa')
  writeFileSync(file, encodeLsaSpace(space))
  return file
}
