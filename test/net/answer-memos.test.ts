import { describe, expect, it } from 'vitest'
import { AnswerMemos, ownCopy } from '../../src/net/answer-memos.js'

describe('AnswerMemos', () => {
  it('keeps a routed answer\'s vector and only the start of a forced question', () => {
    const memos = new AnswerMemos({ maxQuestionChars: 100 })
    memos.add('routed', 'x'.repeat(10_000), new Float32Array(256), 'peer-a')
    memos.add('forced', 'y'.repeat(10_000), undefined, 'local')
    expect(memos.get('routed')?.question).toBeUndefined()
    expect(memos.get('forced')?.question).toBe('y'.repeat(100))
    expect(memos.bytes).toBe(64 + 1024 + 64 + 200)
    memos.embedded('forced', new Float32Array(256))
    expect(memos.get('forced')?.question).toBeUndefined()
    expect(memos.bytes).toBe(2 * (64 + 1024))
  })

  it('forgets the oldest memos beyond the byte budget or the count, whatever the questions\' size', () => {
    const memos = new AnswerMemos({ maxEntries: 50, maxQuestionChars: 16_000, budgetBytes: 1024 * 1024 })
    for (let i = 0; i < 500; i++) memos.add(`q${i}`, `${i} `.padEnd(250_000, 'z'), undefined, 'local')
    expect(memos.bytes).toBeLessThanOrEqual(1024 * 1024)
    expect(memos.size).toBe(Math.floor(1024 * 1024 / (64 + 32_000)))
    expect(memos.get('q499')).toBeDefined()
    expect(memos.get('q0')).toBeUndefined()
    for (let i = 0; i < 100; i++) memos.add(`s${i}`, 'short', undefined, 'local')
    expect(memos.size).toBe(50)
  })

  it('copies a cut question into a string of its own, the same text', () => {
    const text = 'é∑😀'.repeat(1000)
    expect(ownCopy(text, 10)).toBe(text.slice(0, 10))
    expect(ownCopy('short', 10)).toBe('short')
  })
})
