/**
 * The results table of `ppai bench` and `ppai demo`: one row per policy, then
 * PPAI's headline against local-only, greedy and the oracle.
 */
import { headline as computeHeadline, type BenchResult, type PolicyResult } from './metrics.js'

const COLUMNS: Array<{ title: string, cell: (r: PolicyResult) => string }> = [
  { title: 'policy', cell: r => String(r.policy) },
  { title: 'accuracy', cell: r => pct(r.accuracy) },
  { title: 'mean ms', cell: r => ms(r.latencyMs.mean) },
  { title: 'p50 ms', cell: r => ms(r.latencyMs.p50) },
  { title: 'p95 ms', cell: r => ms(r.latencyMs.p95) },
  { title: 'p99 ms', cell: r => ms(r.latencyMs.p99) },
  { title: 'jain', cell: r => num(r.jain, 3) },
  { title: 'max backlog', cell: r => String(r.maxBacklog) },
  { title: 'delegated', cell: r => pct(r.delegated) },
  { title: 'refused', cell: r => String(r.refused) },
  { title: 'failed', cell: r => String(r.failed) },
  { title: 'lost', cell: r => String(r.lost) },
  { title: 'msgs/query', cell: r => num(r.messagesPerQuery, 2) }
]

function pct (x: number): string {
  return Number.isFinite(x) ? `${(100 * x).toFixed(2)}%` : 'n/a'
}
function ms (x: number): string {
  return Number.isFinite(x) ? x.toFixed(0) : 'n/a'
}
function num (x: number, digits: number): string {
  return Number.isFinite(x) ? x.toFixed(digits) : 'n/a'
}
function signed (x: number, unit: string): string {
  return Number.isFinite(x) ? `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(2)}${unit}` : 'n/a'
}

/** The results as an aligned plain-text table with a title line and the headline below. */
export function formatTable (result: BenchResult): string {
  const label = result.synthetic ? ' [SYNTHETIC workload]' : ''
  const lines: string[] = [`scenario ${result.scenario}${label}`]
  const rows = [COLUMNS.map(c => c.title), ...result.results.map(r => COLUMNS.map(c => c.cell(r)))]
  const widths = COLUMNS.map((_, i) => Math.max(...rows.map(row => row[i].length)))
  rows.forEach((row, k) => {
    lines.push(row.map((cell, i) => i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i])).join('  '))
    if (k === 0) lines.push(widths.map(w => '-'.repeat(w)).join('  '))
  })
  const h = result.headline ?? computeHeadline(result.results)
  if (h !== undefined) {
    lines.push('')
    lines.push(`ppai vs local-only: accuracy ${signed(h.accuracyGainPts, ' pts')} (${signed(h.accuracyGainRelPct, '%')} relative)`)
    lines.push(`ppai vs greedy:     mean latency ${signed(h.meanLatencyChangeVsGreedyPct, '%')}, p95 ${signed(h.p95LatencyChangeVsGreedyPct, '%')}, accuracy ${signed(h.accuracyVsGreedyPts, ' pts')}`)
    lines.push(`ppai captures ${Number.isFinite(h.oracleGainSharePct) ? h.oracleGainSharePct.toFixed(1) + '%' : 'n/a'} of the oracle's accuracy gain over local-only`)
  }
  if (result.synthetic) lines.push('(synthetic workload: built-in generator, not the MMLU-Redux data)')
  return lines.join('\n')
}

/** Every parameter, one `name = value` a line, for the record. */
export function formatParams (params: Record<string, unknown>, indent = '  '): string {
  return Object.entries(params).map(([k, v]) => `${indent}${k} = ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join('\n')
}
