import { describe, expect, it } from 'vitest'
import type { PolicyResult } from '../../src/results/metrics.js'
import type { QuestionSet } from '../../src/data/questions.js'
import { formatSummary } from '../../src/demo/summary.js'

const row = (policy: string, accuracy: number, mean: number, p95: number): PolicyResult => ({
  policy, queries: 200, accuracy, latencyMs: { mean, p50: mean, p95, p99: p95 }, jain: 1, maxBacklog: 1, refused: 0, failed: 0, lost: 0, messagesPerQuery: 0, delegated: 0
})
const mmlu: QuestionSet = { source: '/data/mmlu-redux/questions.jsonl', synthetic: false, questions: [], models: Array.from({ length: 14 }, (_, i) => `m${i}`), subjects: [], syntheticParams: {} }

describe('the demo summary', () => {
  it('says in three lines what ran, ppai against local-only and greedy, and where the JSON went', () => {
    const results = [row('greedy', 0.74, 2093.4, 4996), row('random', 0.6, 3000, 6000), row('ppai', 0.73, 2139.2, 5071), row('local-only', 0.75, 2141, 5105)]
    expect(formatSummary({ nodes: 12, queriesPerPolicy: 200, churn: true, set: mmlu, results, json: '/repo/reports/demo.json' })).toEqual([
      'ran: 12 ppai node processes on 127.0.0.1 with churn, 200 queries per policy (greedy, random, ppai, local-only), MMLU-Redux questions with 14 real models\' recorded answers (/data/mmlu-redux/questions.jsonl)',
      'accuracy, mean and p95 latency: ppai 73.0%, 2,139 ms, 5,071 ms; local-only 75.0%, 2,141 ms, 5,105 ms; greedy 74.0%, 2,093 ms, 4,996 ms',
      'JSON: /repo/reports/demo.json'
    ])
  })

  it('shows whatever ran when none of the three did, and says when no JSON was written', () => {
    const lines = formatSummary({ nodes: 3, queriesPerPolicy: 10, churn: false, set: { ...mmlu, synthetic: true }, results: [row('random', 0.5, 10, 20)] })
    expect(lines).toHaveLength(3)
    expect(lines[0]).toContain('SYNTHETIC')
    expect(lines[1]).toBe('accuracy, mean and p95 latency: random 50.0%, 10 ms, 20 ms')
    expect(lines[2]).toBe('JSON: not written (--json FILE writes it)')
  })
})
