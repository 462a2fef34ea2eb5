/**
 * How a multiple-choice question travels as one chat message, and how the
 * chosen letter is read back from an answer. The demo driver formats with
 * {@link formatQuestion}; the simulated backend recognises both the formatted
 * prompt and the bare question text; a real model's reply is graded with
 * {@link parseAnswerLetter}.
 */
import type { Question } from '../data/questions.js'

/** Option letters, in the order of `Question.choices`. */
export const OPTION_LETTERS = ['A', 'B', 'C', 'D'] as const
export type OptionLetter = (typeof OPTION_LETTERS)[number]

/**
 * The question and its lettered options, one per line. No fixed instruction
 * line: every query is embedded for routing, and text shared by all queries
 * would only blur the distances between them.
 */
export function formatQuestion (q: Pick<Question, 'question' | 'choices'>): string {
  const options = q.choices.map((c, i) => `${OPTION_LETTERS[i] ?? String(i + 1)}. ${c}`)
  return [q.question.trim(), '', ...options].join('\n')
}

/** The letter of the ground-truth option. */
export function correctLetter (q: Pick<Question, 'answer'>): OptionLetter {
  return OPTION_LETTERS[q.answer]
}

/**
 * The option letter an answer chooses, or undefined when none can be read.
 * Looks for `Answer: X` first (our simulated agents and most prompted models
 * say it so), then a lone letter at the start (`B`, `(B)`, `B.`), then a lone
 * capital letter A-D anywhere.
 */
export function parseAnswerLetter (text: string): OptionLetter | undefined {
  const patterns = [
    /answer\s*(?:is)?\s*[:：]?\s*\(?\*{0,2}([ABCD])\b/i,
    /^\s*\(?([ABCD])(?:[).:\s]|$)/,
    /(?:^|[^A-Za-z])([ABCD])(?:[^A-Za-z]|$)/
  ]
  for (const p of patterns) {
    const m = p.exec(text)
    if (m != null) return m[1].toUpperCase() as OptionLetter
  }
  return undefined
}
