import { describe, expect, it } from 'vitest'
import { headline, jainIndex, quantile, summarise, type QueryOutcome } from '../../src/results/metrics.js'
import { formatTable } from '../../src/results/table.js'

function outcome (latencyMs: number, correct: boolean, servedBy = 'local'): QueryOutcome {
  return { latencyMs, correct, refused: 0, failed: 0, messages: servedBy === 'local' ? 0 : 2, servedBy }
}

describe('metrics', () => {
  it('rates an even load 1 and one agent taking all 1/n (Jain)', () => {
    expect(jainIndex([3, 3, 3, 3])).toBeCloseTo(1, 12)
    expect(jainIndex([5, 0, 0, 0])).toBeCloseTo(0.25, 12)
  })

  it('takes nearest-rank quantiles', () => {
    const sorted = Float64Array.from({ length: 100 }, (_, i) => i + 1)
    expect(quantile(sorted, 0.5)).toBe(50)
    expect(quantile(sorted, 0.95)).toBe(95)
    expect(quantile(sorted, 0.99)).toBe(99)
  })

  it('counts as lost every issued query without an outcome', () => {
    const r = summarise('greedy', [outcome(100, true), outcome(300, false, 'peer-a')], { issued: 3, loadPerAgent: [1, 1], maxBacklog: 2 })
    expect(r.lost).toBe(1)
    expect(r.accuracy).toBe(0.5)
    expect(r.latencyMs.mean).toBe(200)
    expect(r.delegated).toBe(0.5)
    expect(r.messagesPerQuery).toBeCloseTo(2 / 3, 12)
  })

  it('states ppai against local-only, greedy and the oracle in the headline and the table', () => {
    const load = { issued: 2, loadPerAgent: [1, 1], maxBacklog: 1 }
    const results = [
      summarise('ppai', [outcome(100, true), outcome(100, true)], load),
      summarise('local-only', [outcome(100, true), outcome(100, false)], load),
      summarise('greedy', [outcome(200, true), outcome(200, true)], load),
      summarise('oracle', [outcome(50, true), outcome(50, true)], load)
    ]
    const h = headline(results)
    expect(h?.accuracyGainPts).toBeCloseTo(50, 9)
    expect(h?.meanLatencyChangeVsGreedyPct).toBeCloseTo(-50, 9)
    expect(h?.oracleGainSharePct).toBeCloseTo(100, 9)
    const table = formatTable({ scenario: 'unit', synthetic: false, params: {}, results })
    expect(table).toContain('ppai vs local-only: accuracy +50.00 pts')
    expect(table).toContain('mean latency −50.00%')
    expect(table.split('\n').filter(l => /^(ppai|local-only|greedy|oracle)\s+\d/.test(l))).toHaveLength(4)
  })
})
