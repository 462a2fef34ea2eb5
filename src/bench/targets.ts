/**
 * The project's targets for the `paper` scenario, checked against a result
 * (measured and reported, never tuned toward).
 */
import type { BenchResult, PolicyResult } from '../results/metrics.js'

export interface TargetCheck {
  target: string
  measured: string
  met: boolean
}

/** Checks every target that the policies present in `result` allow. */
export function checkTargets (result: BenchResult): TargetCheck[] {
  const by = (name: string): PolicyResult | undefined => result.results.find(r => r.policy === name)
  const ppai = by('ppai')
  const local = by('local-only')
  const greedy = by('greedy')
  const oracle = by('oracle')
  const out: TargetCheck[] = []
  if (ppai !== undefined && local !== undefined) {
    const gain = 100 * (ppai.accuracy - local.accuracy)
    out.push({ target: 'ppai accuracy >= local-only + 8 pts', measured: `${gain >= 0 ? '+' : ''}${gain.toFixed(2)} pts`, met: gain >= 8 })
  }
  if (ppai !== undefined && greedy !== undefined) {
    const meanRatio = ppai.latencyMs.mean / greedy.latencyMs.mean
    const p95Ratio = ppai.latencyMs.p95 / greedy.latencyMs.p95
    const accGap = 100 * Math.abs(ppai.accuracy - greedy.accuracy)
    out.push({ target: 'ppai mean latency <= 0.8 x greedy', measured: `${meanRatio.toFixed(3)} x`, met: meanRatio <= 0.8 })
    out.push({ target: 'ppai p95 latency <= 0.6 x greedy', measured: `${p95Ratio.toFixed(3)} x`, met: p95Ratio <= 0.6 })
    out.push({ target: 'ppai accuracy within 1 pt of greedy', measured: `${(100 * (ppai.accuracy - greedy.accuracy)).toFixed(2)} pts`, met: accGap <= 1 })
  }
  if (ppai !== undefined && local !== undefined && oracle !== undefined) {
    const gain = oracle.accuracy - local.accuracy
    const share = gain > 0 ? 100 * (ppai.accuracy - local.accuracy) / gain : NaN
    out.push({ target: 'ppai captures >= 90% of the oracle\'s gain over local-only', measured: Number.isFinite(share) ? `${share.toFixed(1)}%` : 'n/a', met: share >= 90 })
  }
  const lost = result.results.reduce((s, r) => s + r.lost, 0)
  out.push({ target: 'lost = 0 for every policy', measured: String(lost), met: lost === 0 })
  return out
}

/** The checks as text lines. */
export function formatTargets (checks: readonly TargetCheck[]): string {
  return checks.map(c => `  [${c.met ? 'met ' : 'MISS'}] ${c.target}: ${c.measured}`).join('\n')
}
