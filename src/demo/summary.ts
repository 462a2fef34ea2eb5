/**
 * The demo's last three lines, for a reader who skips everything above them:
 * what ran, how ppai did against local-only and greedy, where the JSON went.
 */
import type { PolicyResult } from '../results/metrics.js'
import type { QuestionSet } from '../data/questions.js'

/** The policies the second line compares, in this order. */
const COMPARED = ['ppai', 'local-only', 'greedy']

export interface SummaryInput {
  nodes: number
  queriesPerPolicy: number
  churn: boolean
  set: QuestionSet
  results: readonly PolicyResult[]
  /** The JSON file written, if any. */
  json?: string
}

/** Exactly three lines, each readable alone. */
export function formatSummary (s: SummaryInput): string[] {
  const data = s.set.synthetic
    ? 'the built-in SYNTHETIC workload (no MMLU-Redux data found)'
    : `MMLU-Redux questions with ${s.set.models.length} real models' recorded answers (${s.set.source})`
  const ran = `ran: ${s.nodes} ppai node processes on 127.0.0.1${s.churn ? ' with churn' : ''}, ${s.queriesPerPolicy} queries per policy (${s.results.map(r => r.policy).join(', ')}), ${data}`
  const compared = s.results.filter(r => COMPARED.includes(r.policy)).sort((a, b) => COMPARED.indexOf(a.policy) - COMPARED.indexOf(b.policy))
  const shown = compared.length > 0 ? compared : s.results
  const result = 'accuracy, mean and p95 latency: ' + shown.map(r =>
    `${r.policy} ${(100 * r.accuracy).toFixed(1)}%, ${Math.round(r.latencyMs.mean).toLocaleString('en-US')} ms, ${Math.round(r.latencyMs.p95).toLocaleString('en-US')} ms`).join('; ')
  const json = s.json != null ? `JSON: ${s.json}` : 'JSON: not written (--json FILE writes it)'
  return [ran, result, json]
}
