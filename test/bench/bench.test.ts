import { mkdtempSync, readFileSync, existsSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Command } from 'commander'
import { describe, expect, it } from 'vitest'
import { benchMain, registerBench } from '../../src/bench/command.js'
import { BenchOptionsError, parseBenchOptions } from '../../src/bench/options.js'
import type { BenchResult } from '../../src/results/metrics.js'
import { DataError } from '../../src/data/questions.js'

const quiet = { progress: false }

describe('ppai bench', () => {
  it('on a small run of the three-subjects world, ppai is more accurate than local-only', async () => {
    const lines: string[] = []
    const run = await benchMain({ scenario: 'subjects', synthetic: true, agents: '16', queries: '2000', policies: 'ppai,local-only', ...quiet }, l => lines.push(l))
    const ppai = run.result.results.find(r => r.policy === 'ppai')
    const local = run.result.results.find(r => r.policy === 'local-only')
    expect(ppai?.accuracy).toBeGreaterThan(local?.accuracy ?? 1)
    expect(ppai?.lost).toBe(0)
    expect(lines.join('\n')).toContain('ppai vs local-only: accuracy +')
  })

  it('lets ppai weigh latency as a flag says, and prints the weight among the parameters', async () => {
    const lines: string[] = []
    const args = { scenario: 'paper', synthetic: true, agents: '16', queries: '1500', policies: 'ppai', ...quiet }
    const patient = await benchMain({ ...args, latencyWeight: '0' }, l => lines.push(l))
    const hasty = await benchMain({ ...args, latencyWeight: '1' }, () => {})
    expect(patient.result.params).toMatchObject({ latencyWeight: 0 })
    expect(lines.join('\n')).toContain('latencyWeight')
    // Indifferent to latency, ppai trades none of it for success; paying dearly for it, it goes where answers come fastest.
    const share = (r: typeof patient): number => r.result.results[0].delegated ?? 0
    expect(patient.result.results[0].latencyMs.mean).toBeGreaterThan(hasty.result.results[0].latencyMs.mean)
    expect(share(patient)).not.toBe(share(hasty))
  })

  it('labels the synthetic workload in the table, the JSON and the parameters', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ppai-bench-'))
    const json = join(dir, 'out.json')
    const lines: string[] = []
    await benchMain({ scenario: 'paper', synthetic: true, agents: '8', queries: '300', policies: 'ppai,local-only', json, ...quiet }, l => lines.push(l))
    const text = lines.join('\n')
    expect(text).toContain('SYNTHETIC')
    expect(text).toContain('agent.smallModelAccuracy = 0.6')
    const parsed = JSON.parse(readFileSync(json, 'utf8')) as BenchResult
    expect(parsed.synthetic).toBe(true)
    expect(parsed.params.syntheticGenerator).toBeDefined()
    expect(parsed.scenario).toBe('paper')
    for (const r of parsed.results) {
      expect(Object.keys(r)).toEqual(expect.arrayContaining(['policy', 'accuracy', 'latencyMs', 'jain', 'maxBacklog', 'refused', 'failed', 'lost', 'messagesPerQuery']))
      expect(Object.keys(r.latencyMs).sort()).toEqual(['mean', 'p50', 'p95', 'p99'])
    }
  })

  it('refuses a data folder without questions.jsonl with an error naming the folder', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'ppai-nodata-'))
    await expect(benchMain({ scenario: 'paper', data: empty, queries: '100', ...quiet }, () => {})).rejects.toThrow(DataError)
    await expect(benchMain({ scenario: 'paper', data: empty, queries: '100', ...quiet }, () => {})).rejects.toThrow(empty)
  })

  it('rejects bad flags, naming each', () => {
    expect(() => parseBenchOptions({ scenario: 'nope' })).toThrow(/--scenario must be one of paper, subjects, trace, scale/)
    expect(() => parseBenchOptions({ scenario: 'paper', load: 'abc' })).toThrow(/--load must be a number/)
    expect(() => parseBenchOptions({ scenario: 'paper', load: '-1' })).toThrow(/--load must be > 0/)
    expect(() => parseBenchOptions({ scenario: 'paper', agents: '2.5' })).toThrow(/--agents must be a whole number/)
    expect(() => parseBenchOptions({ scenario: 'paper', policies: 'ppai,bogus' })).toThrow(/unknown bogus/)
    expect(() => parseBenchOptions({ scenario: 'paper', sweep: '0.5,x' })).toThrow(BenchOptionsError)
    expect(parseBenchOptions({ scenario: 'trace', seed: '7', load: '0.9' })).toMatchObject({ scenario: 'trace', seed: 7, load: 0.9 })
    expect(() => parseBenchOptions({ scenario: 'paper', latencyWeight: '-0.1' })).toThrow(/--latency-weight must be >= 0/)
  })

  it('exits with status 2 and a message on a bad flag from the command line', async () => {
    const program = new Command().exitOverride()
    registerBench(program)
    const before = process.exitCode
    const errors: string[] = []
    const write = process.stderr.write.bind(process.stderr)
    process.stderr.write = ((chunk: string) => { errors.push(String(chunk)); return true }) as typeof process.stderr.write
    try {
      await program.parseAsync(['node', 'ppai', 'bench', '--load', 'fast'])
    } finally {
      process.stderr.write = write
    }
    expect(process.exitCode).toBe(2)
    process.exitCode = before
    expect(errors.join('')).toContain('--load must be a number')
  })

  it('writes a Markdown report with SVG plots of the load sweep, the latency CDF and the load per agent', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ppai-report-'))
    await benchMain({ scenario: 'paper', synthetic: true, agents: '8', queries: '300', policies: 'ppai,local-only,greedy', report: dir, sweep: '0.4,0.8', sweepQueries: '200', ...quiet }, () => {})
    const files = readdirSync(dir).sort()
    expect(files).toEqual(['accuracy-vs-load.svg', 'latency-cdf.svg', 'latency-mean-vs-load.svg', 'latency-p95-vs-load.svg', 'load-per-agent.svg', 'report.md'])
    const md = readFileSync(join(dir, 'report.md'), 'utf8')
    expect(md).toContain('SYNTHETIC')
    expect(md).toContain('![accuracy-vs-load.svg](accuracy-vs-load.svg)')
    const svg = readFileSync(join(dir, 'accuracy-vs-load.svg'), 'utf8')
    expect(svg.startsWith('<svg')).toBe(true)
    for (const name of ['ppai', 'local-only', 'greedy']) expect(svg).toContain(`>${name}</text>`)
    expect(existsSync(join(dir, 'latency-cdf.svg'))).toBe(true)
  })
})
