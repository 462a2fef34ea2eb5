import { execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { repoRoot } from '../../src/data/questions.js'

// A private build: other work may rebuild dist/ while the demo's node processes load it.
const buildRoot = join(repoRoot, '.ppai-test', 'demo-build')
const cli = join(buildRoot, 'dist', 'cli.js')
const work = mkdtempSync(join(tmpdir(), 'ppai-demo-test-'))

/** Processes whose command line mentions `text` (the demo's temp folder), from /proc. */
function processesMentioning (text: string): number[] {
  const pids: number[] = []
  for (const entry of readdirSafe('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(text)) pids.push(Number(entry))
    } catch {
      // gone meanwhile
    }
  }
  return pids
}

function readdirSafe (dir: string): string[] {
  try {
    return readdirSync(dir)
  } catch {
    return []
  }
}

/** Runs `ppai demo` as a user would, returning its exit code, stdout and stderr. */
function runCli (args: string[], opts: { onStderr?: (text: string, child: ReturnType<typeof spawn>) => void, timeoutMs: number }): Promise<{ code: number | null, stdout: string, stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, 'demo', ...args], { env: { ...process.env, PPAI_DATA: '' }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`demo did not finish within ${opts.timeoutMs} ms; stderr:\n${stderr}`))
    }, opts.timeoutMs)
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString() })
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString()
      opts.onStderr?.(stderr, child)
    })
    child.on('exit', code => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

beforeAll(() => {
  // The demo runs the built CLI in its node processes: build this checkout first (tsc emits despite type errors elsewhere),
  // inside the repository so that node_modules resolves.
  try {
    execFileSync(process.execPath, [join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(repoRoot, 'tsconfig.build.json'), '--outDir', join(buildRoot, 'dist')], { cwd: repoRoot, stdio: 'ignore' })
  } catch {
    // type errors in files under construction still leave dist/ usable
  }
  expect(existsSync(cli)).toBe(true)
}, 120_000)

afterAll(() => {
  rmSync(work, { recursive: true, force: true })
})

describe('ppai demo', () => {
  it('runs a 4-node network, answers every query (lost = 0) and prints the bench table and JSON', async () => {
    const json = join(work, 'demo.json')
    const { code, stdout, stderr } = await runCli(['--nodes', '4', '--queries', '24', '--policy', 'ppai,local-only', '--synthetic', '--seed', '3', '--json', json, '--settle-ms', '6000'], { timeoutMs: 100_000 })
    expect(code, stderr).toBe(0)
    expect(stdout).toContain('[SYNTHETIC workload]')
    expect(stdout).toMatch(/policy\s+accuracy\s+mean ms/)
    const result = JSON.parse(readFileSync(json, 'utf8')) as { synthetic: boolean, results: Array<{ policy: string, queries: number, lost: number, accuracy: number, delegated: number }> }
    expect(result.synthetic).toBe(true)
    expect(result.results.map(r => r.policy)).toEqual(['ppai', 'local-only'])
    for (const r of result.results) {
      expect(r.queries).toBe(24)
      expect(r.lost).toBe(0)
      expect(r.accuracy).toBeGreaterThan(0)
    }
    // local-only never delegates; the table row says so too.
    expect(result.results[1].delegated).toBe(0)
    // The last three lines: what ran, ppai against local-only, where the JSON went.
    const last = stdout.trimEnd().split('\n').slice(-3)
    expect(last[0]).toBe('ran: 4 ppai node processes on 127.0.0.1, 24 queries per policy (ppai, local-only), the built-in SYNTHETIC workload (no MMLU-Redux data found)')
    const pct = (x: number): string => `${(100 * x).toFixed(1)}%`
    expect(last[1]).toMatch(new RegExp(`^accuracy, mean and p95 latency: ppai ${pct(result.results[0].accuracy)}, [\\d,]+ ms, [\\d,]+ ms; local-only ${pct(result.results[1].accuracy)}, [\\d,]+ ms, [\\d,]+ ms$`))
    expect(last[2]).toBe(`JSON: ${json}`)
  }, 110_000)

  it('says in one line, without a stack, that --data names nothing', async () => {
    const nowhere = join(work, 'nowhere', 'questions.jsonl')
    const { code, stderr } = await runCli(['--data', nowhere, '--quiet'], { timeoutMs: 30_000 })
    expect(code).toBe(1)
    expect(stderr.trim()).toBe(`ppai demo: no such folder or file: ${nowhere} (set --data or PPAI_DATA to the mmlu-redux folder or its questions.jsonl)`)
  }, 40_000)

  it('stops every node process when interrupted', async () => {
    let rootDir: string | undefined
    let interrupted = false
    const { code } = await runCli(['--nodes', '3', '--queries', '2000', '--policy', 'ppai', '--synthetic'], {
      timeoutMs: 60_000,
      onStderr: (text, child) => {
        rootDir ??= /nodes' folders in (\S+)/.exec(text)?.[1]
        // Interrupt once the nodes are up, in the middle of the run.
        if (!interrupted && rootDir != null && /answered|running \d+ queries/.test(text)) {
          interrupted = true
          expect(processesMentioning(rootDir).length).toBeGreaterThanOrEqual(3)
          child.kill('SIGINT')
        }
      }
    })
    expect(interrupted).toBe(true)
    expect(code).not.toBe(0)
    expect(rootDir).toBeDefined()
    // Give the kernel a moment to reap the killed children.
    await new Promise(resolve => setTimeout(resolve, 500))
    expect(processesMentioning(rootDir as string)).toEqual([])
  }, 70_000)
})
