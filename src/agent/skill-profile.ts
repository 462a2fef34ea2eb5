/**
 * The personalised edge agent of the `paper` scenario: strong on its owner's
 * few subjects, where it answers as a real model did (recorded answers), and a
 * small local model everywhere else, whose per-question correctness is drawn
 * from a named accuracy with a seeded hash (the same agent always gives the
 * same answer to the same question, on every machine).
 *
 * The small-model profile (documented, parameterised): on each subject the
 * agent's accuracy is `smallModelAccuracy` plus a per-(agent, subject) offset
 * drawn uniformly in ±`smallModelSubjectSpread`, clamped to [0.25, 1]; a wrong
 * answer is one of the three other letters, drawn the same way. The defaults
 * (0.6 ± 0.1) are of the order of 3B-8B instruction-tuned models on MMLU.
 */
import { fnv1a32 } from '../core/rng.js'
import type { Question } from '../data/questions.js'
import { LETTERS, recordedTrace, type CorrectnessModel } from './recorded-trace.js'

/** Every parameter of a personalised edge agent. */
export interface SkillProfileInit {
  /** Stable agent name; seeds its small-model draws together with `seed`. */
  agentId: string
  /** The subjects the owner cares about; answered as `expertModel` did. */
  ownerSubjects: readonly string[]
  /** A real model of the data set whose recorded answers back the owner's subjects. */
  expertModel: string
  /** Mean accuracy of the small model elsewhere. */
  smallModelAccuracy: number
  /** Half-width of the per-subject offset of the small model's accuracy. */
  smallModelSubjectSpread: number
  seed: number
}

/** The named defaults of the small-model profile. */
export const SMALL_MODEL_DEFAULTS = { smallModelAccuracy: 0.6, smallModelSubjectSpread: 0.1 } as const

/** A uniform number in [0, 1) from a string key: stateless, so order of use never matters. */
function hashUniform (key: string): number {
  // FNV-1a leaves keys that differ only at the end correlated in the high bits: finish with murmur3's fmix32.
  let h = fnv1a32(key)
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return (h >>> 0) / 4294967296
}

/** The small model's accuracy on one subject for one agent. */
export function smallModelSubjectAccuracy (init: SkillProfileInit, subject: string): number {
  const offset = (2 * hashUniform(`${init.seed}|${init.agentId}|subject|${subject}`) - 1) * init.smallModelSubjectSpread
  return Math.min(1, Math.max(0.25, init.smallModelAccuracy + offset))
}

/** A personalised edge agent: the recorded expert on the owner's subjects, the small model elsewhere. */
export function skillProfile (init: SkillProfileInit): CorrectnessModel {
  const expert = recordedTrace(init.expertModel)
  const owned = new Set(init.ownerSubjects)
  const accuracy = new Map<string, number>()
  const subjectAccuracy = (subject: string): number => {
    let a = accuracy.get(subject)
    if (a === undefined) {
      a = smallModelSubjectAccuracy(init, subject)
      accuracy.set(subject, a)
    }
    return a
  }
  const smallAnswer = (q: Question): string => {
    const u = hashUniform(`${init.seed}|${init.agentId}|q|${q.id}`)
    if (u < subjectAccuracy(q.subject)) return LETTERS[q.answer]
    const wrong = Math.floor(hashUniform(`${init.seed}|${init.agentId}|wrong|${q.id}`) * 3)
    return LETTERS[(q.answer + 1 + wrong) % 4]
  }
  return {
    description: `skill-profile:${init.expertModel} on [${init.ownerSubjects.join(', ')}], small model (${init.smallModelAccuracy} ± ${init.smallModelSubjectSpread}) elsewhere`,
    answer: q => owned.has(q.subject) ? expert.answer(q) : smallAnswer(q),
    correct: q => owned.has(q.subject) ? expert.correct(q) : smallAnswer(q) === LETTERS[q.answer],
    successProbability: q => owned.has(q.subject) ? expert.successProbability(q) : subjectAccuracy(q.subject)
  }
}
