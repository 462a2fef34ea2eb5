/**
 * Correctness from recorded answers: an agent backed by one real model's
 * recorded answers is right exactly where that model was. Pure: no I/O, no
 * clock; the question set is handed in by the caller.
 */
import { isCorrect, type Question } from '../data/questions.js'

/** The option letters, index = answer index. */
export const LETTERS = ['A', 'B', 'C', 'D'] as const

/**
 * How an agent answers multiple-choice questions: the letter it picks, and
 * the probability of being right that an oracle may know (0 or 1 where the
 * answer is recorded, the model's named accuracy where it is drawn).
 */
export interface CorrectnessModel {
  /** One line that says what backs the agent, e.g. `trace:gpt-4o-2024-05-13`. */
  readonly description: string
  /** The letter (A-D, or anything else for a non-answer) the agent gives to `q`. Deterministic. */
  answer(q: Question): string
  /** True when `answer(q)` is the ground truth. */
  correct(q: Question): boolean
  /** What an oracle knows about the agent on `q`: 1/0 where recorded, the drawn accuracy elsewhere. */
  successProbability(q: Question): number
}

/** An agent that answers exactly as `model` did in the recorded data. */
export function recordedTrace (model: string): CorrectnessModel {
  return {
    description: `trace:${model}`,
    answer: q => q.predictions[model] ?? '',
    correct: q => isCorrect(q, model),
    successProbability: q => isCorrect(q, model) ? 1 : 0
  }
}
