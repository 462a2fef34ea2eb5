import { execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { repoRoot } from '../../src/data/questions.js'
import type { SoakReport } from '../../src/soak/run.js'

// A private build: other work may rebuild dist/ while the soak's node processes load it.
const buildRoot = join(repoRoot, '.ppai-test', 'soak-build')
const cli = join(buildRoot, 'dist', 'cli.js')
const work = mkdtempSync(join(tmpdir(), 'ppai-soak-test-'))

function runSoakCli (args: string[], timeoutMs: number): Promise<{ code: number | null, stdout: string, stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, 'soak', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    const timer = setTimeout(() => {
      child.kill('SIGINT')
      reject(new Error(`soak did not finish within ${timeoutMs} ms; stderr:\n${stderr}`))
    }, timeoutMs)
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString() })
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
    child.on('exit', code => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

beforeAll(() => {
  try {
    execFileSync(process.execPath, [join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(repoRoot, 'tsconfig.build.json'), '--outDir', join(buildRoot, 'dist')], { cwd: repoRoot, stdio: 'ignore' })
  } catch {
    // type errors in files under construction still leave dist/ usable
  }
  expect(existsSync(cli)).toBe(true)
}, 120_000)
afterAll(() => { rmSync(work, { recursive: true, force: true }) })

describe('ppai soak', () => {
  it('kills and starts nodes while queries flow, and accounts for every query', async () => {
    const json = join(work, 'soak.json')
    const res = await runSoakCli(['--nodes', '4', '--minutes', '0.2', '--churn-every-ms', '2500', '--load', '0.1', '--seed-tasks', '20', '--synthetic', '--json', json], 150_000)
    expect(res.code, res.stderr.slice(-2000)).toBe(0)
    const report = JSON.parse(readFileSync(json, 'utf8')) as SoakReport
    // Labelled synthetic in every output.
    expect(report.synthetic).toBe(true)
    expect(res.stdout).toContain('SYNTHETIC')
    expect(res.stderr).toMatch(/killed/)
    expect(report.kills).toBeGreaterThanOrEqual(1)
    expect(report.issued).toBeGreaterThan(0)
    // Every issued query is answered, a clear error, or lost; none unaccounted for, none lost.
    expect(report.answered + report.errors + report.lost).toBe(report.issued)
    expect(report.lost).toBe(0)
    expect(report.errorsAfterDeadline).toBe(0)
    expect(report.latencyMs.p99).toBeGreaterThanOrEqual(report.latencyMs.p50)
  }, 280_000)

  it('refuses out-of-range flags with a message naming the flag', async () => {
    const res = await runSoakCli(['--nodes', '1000', '--minutes', '-1'], 30_000)
    expect(res.code).toBe(2)
    expect(res.stderr).toMatch(/--nodes/)
    expect(res.stderr).toMatch(/--minutes/)
  })
})
