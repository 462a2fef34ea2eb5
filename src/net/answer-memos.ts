/**
 * What a node remembers of its recent answers so that the owner can rate
 * them: who served each, and where it lies in the embedding space. Bounded in
 * count and in bytes, whatever the questions' size: a routed answer keeps
 * only its vector (it was embedded to be routed); a forced one (`local`,
 * `peer:<id>`) keeps a copy of at most `maxQuestionChars` of its question,
 * embedded if and when it is rated. Beyond `maxEntries` or `budgetBytes` the
 * oldest memos are forgotten.
 */

export interface AnswerMemo {
  /** Embedded when routed; a forced query's question is embedded only if it is rated. */
  embedding?: Float32Array
  /** The start of a forced query's question (undefined once embedded). */
  question?: string
  servedBy: string
  rated: boolean
}

export interface AnswerMemoLimits {
  /** Memos kept (default 2,000). */
  maxEntries?: number
  /** Characters of a forced question kept for its embedding (default 16,000: what a peer accepts in one query). */
  maxQuestionChars?: number
  /** Bytes of questions and vectors kept in all, counting two per character (default 16 MiB). */
  budgetBytes?: number
}

export const DEFAULT_ANSWER_MEMO_LIMITS: Required<AnswerMemoLimits> = { maxEntries: 2000, maxQuestionChars: 16_000, budgetBytes: 16 * 1024 * 1024 }

/**
 * At most `maxChars` of `text`, as a string of its own: V8 keeps a slice of a
 * long string as a view that holds the whole original alive.
 */
export function ownCopy (text: string, maxChars: number): string {
  const cut = text.length > maxChars ? text.slice(0, maxChars) : text
  return Buffer.from(cut, 'utf16le').toString('utf16le')
}

function sizeOf (memo: AnswerMemo): number {
  return 64 + (memo.embedding?.byteLength ?? 0) + 2 * (memo.question?.length ?? 0)
}

/** Recent answers by id, oldest first. */
export class AnswerMemos {
  private readonly memos = new Map<string, AnswerMemo>()
  private readonly limits: Required<AnswerMemoLimits>
  private used = 0

  constructor (limits: AnswerMemoLimits = {}) {
    this.limits = { ...DEFAULT_ANSWER_MEMO_LIMITS, ...limits }
  }

  /** Remembers an answer: its vector when there is one, else the start of its question. */
  add (id: string, question: string, embedding: Float32Array | undefined, servedBy: string): void {
    this.delete(id)
    const memo: AnswerMemo = embedding != null ? { embedding, servedBy, rated: false } : { question: ownCopy(question, this.limits.maxQuestionChars), servedBy, rated: false }
    this.memos.set(id, memo)
    this.used += sizeOf(memo)
    while (this.memos.size > this.limits.maxEntries || (this.used > this.limits.budgetBytes && this.memos.size > 1)) {
      const oldest = this.memos.keys().next().value
      if (oldest == null) break
      this.delete(oldest)
    }
  }

  get (id: string): AnswerMemo | undefined {
    return this.memos.get(id)
  }

  /** Replaces a memo's question by its vector, once embedded. */
  embedded (id: string, embedding: Float32Array): void {
    const memo = this.memos.get(id)
    if (memo == null) return
    this.used -= sizeOf(memo)
    memo.embedding = embedding
    memo.question = undefined
    this.used += sizeOf(memo)
  }

  get size (): number {
    return this.memos.size
  }

  /** Bytes held, as counted against the budget. */
  get bytes (): number {
    return this.used
  }

  private delete (id: string): void {
    const memo = this.memos.get(id)
    if (memo == null) return
    this.used -= sizeOf(memo)
    this.memos.delete(id)
  }
}
