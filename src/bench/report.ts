/**
 * `--report DIR`: a Markdown report with SVG plots — accuracy and mean/p95
 * latency against offered load for every policy, the latency CDF, and the
 * load per agent — plus the table, the targets and every parameter.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { BenchResult } from '../results/metrics.js'
import type { BenchRun } from './run.js'
import { lineChart, type Series } from './svg.js'
import { formatParams, formatTable } from '../results/table.js'
import { checkTargets, formatTargets } from './targets.js'

/** One point of the load sweep: the results of every policy at one offered load. */
export interface SweepPoint {
  load: number
  result: BenchResult
}

/** What the run cost. */
export interface Runtime {
  wallMs: number
  maxRssMB: number
}

function byPolicy (sweep: readonly SweepPoint[], value: (r: BenchResult['results'][number]) => number): Series[] {
  const names = [...new Set(sweep.flatMap(s => s.result.results.map(r => String(r.policy))))]
  return names.map(name => ({
    name,
    points: sweep.map(s => {
      const r = s.result.results.find(x => x.policy === name)
      return [s.load, r !== undefined ? value(r) : NaN] as [number, number]
    })
  }))
}

/** The latency CDF of one run, as at most `n` points (seconds, fraction). */
function cdf (sorted: Float64Array, n = 200): Array<[number, number]> {
  const out: Array<[number, number]> = []
  if (sorted.length === 0) return out
  for (let k = 0; k <= n; k++) {
    const q = k / n
    const i = Math.min(sorted.length - 1, Math.floor(q * (sorted.length - 1)))
    out.push([sorted[i] / 1000, q])
  }
  return out
}

/** Writes report.md and its SVGs into `dir`; returns the report's path. */
export function writeReport (dir: string, main: BenchRun, sweep: readonly SweepPoint[], runtime: Runtime): string {
  mkdirSync(dir, { recursive: true })
  const files: Array<[string, string]> = []
  const label = main.result.synthetic ? ' (SYNTHETIC workload)' : ''
  if (sweep.length > 0) {
    const accuracy = byPolicy(sweep, r => 100 * r.accuracy)
    // Zoom on the data: differences of a few points are what matters.
    const lowest = Math.min(...accuracy.flatMap(s => s.points.map(([, y]) => y)).filter(Number.isFinite))
    files.push(['accuracy-vs-load.svg', lineChart({ title: `Accuracy vs offered load${label}`, xLabel: 'offered load', yLabel: 'accuracy, %', series: accuracy, markers: true, yMin: Number.isFinite(lowest) ? Math.max(0, Math.floor(lowest / 5) * 5 - 5) : 0 })])
    files.push(['latency-mean-vs-load.svg', lineChart({ title: `Mean latency vs offered load${label}`, xLabel: 'offered load', yLabel: 'mean latency, s', series: byPolicy(sweep, r => r.latencyMs.mean / 1000), markers: true })])
    files.push(['latency-p95-vs-load.svg', lineChart({ title: `p95 latency vs offered load${label}`, xLabel: 'offered load', yLabel: 'p95 latency, s', series: byPolicy(sweep, r => r.latencyMs.p95 / 1000), markers: true })])
  }
  const cdfSeries: Series[] = [...main.runs.entries()].map(([policy, run]) => ({ name: policy, points: cdf(run.latencies) }))
  // Cut the x axis at the largest p99 so that the body of the distributions is readable.
  const p99 = Math.max(...main.result.results.map(r => r.latencyMs.p99)) / 1000
  files.push(['latency-cdf.svg', lineChart({ title: `Latency CDF at load ${String(main.result.params.load)}${label}`, xLabel: 'latency, s (cut at the largest p99)', yLabel: 'fraction of queries', series: cdfSeries.map(s => ({ ...s, points: s.points.filter(([x]) => x <= p99) })), yMin: 0, yMax: 1 })])
  const loadSeries: Series[] = [...main.runs.entries()].map(([policy, run]) => {
    const util = Array.from(run.busyMsPerAgent, b => run.virtualMs > 0 ? b / run.virtualMs : 0).sort((a, b) => b - a)
    return { name: policy, points: util.map((u, i) => [i + 1, u] as [number, number]) }
  })
  files.push(['load-per-agent.svg', lineChart({ title: `Load per agent (busy share, sorted)${label}`, xLabel: 'agent rank', yLabel: 'busy share of the run', series: loadSeries, yMin: 0 })])
  for (const [name, svg] of files) writeFileSync(join(dir, name), svg)

  const md: string[] = []
  md.push(`# PPAI benchmark: scenario \`${main.result.scenario}\`${label}`)
  md.push('')
  if (main.result.synthetic) md.push('**Synthetic workload**: the MMLU-Redux data was not used; the built-in generator was (its parameters are listed below).\n')
  md.push('Produced by `ppai bench` (discrete-event simulation, virtual time, seeded). Every policy ran on the same arrivals, questions, service times and churn.')
  md.push('')
  md.push('## Results')
  md.push('')
  md.push('```')
  md.push(formatTable(main.result))
  md.push('```')
  md.push('')
  md.push('## Targets (measured, not tuned toward)')
  md.push('')
  md.push('```')
  md.push(formatTargets(checkTargets(main.result)))
  md.push('```')
  md.push('')
  md.push(`Wall time ${(runtime.wallMs / 1000).toFixed(1)} s, peak RSS ${runtime.maxRssMB.toFixed(0)} MB (this run, including the sweep).`)
  md.push('')
  md.push('## Plots')
  md.push('')
  for (const [name] of files) md.push(`![${name}](${name})\n`)
  if (sweep.length > 0) {
    md.push('### The load sweep')
    md.push('')
    md.push('| load | policy | accuracy | mean ms | p95 ms | jain | refused | failed | lost |')
    md.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- |')
    for (const s of sweep) {
      for (const r of s.result.results) {
        md.push(`| ${s.load} | ${String(r.policy)} | ${(100 * r.accuracy).toFixed(2)}% | ${r.latencyMs.mean.toFixed(0)} | ${r.latencyMs.p95.toFixed(0)} | ${r.jain.toFixed(3)} | ${r.refused} | ${r.failed} | ${r.lost} |`)
      }
    }
    md.push('')
  }
  md.push('## Parameters')
  md.push('')
  md.push('```')
  md.push(formatParams(main.result.params, ''))
  md.push('```')
  md.push('')
  const path = join(dir, 'report.md')
  writeFileSync(path, md.join('\n'))
  return path
}

