import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { runBenchThread } from '../../src/bench/bench-thread.js'

/** The bench worker run from the TypeScript sources, as vitest runs the tests. */
const fromSources = {
  url: new URL('../../src/bench/bench-worker.ts', import.meta.url),
  execArgv: ['--experimental-transform-types', '--no-warnings', '--import', new URL('./support/ts-worker-hooks.ts', import.meta.url).href]
}

describe('ppai bench in a worker thread', () => {
  it('runs the command with its flags in a worker and returns exit code 0 with the JSON written', async () => {
    const json = join(mkdtempSync(join(tmpdir(), 'ppai-bench-thread-')), 'out.json')
    const code = await runBenchThread({ scenario: 'paper', synthetic: true, agents: '10', queries: '400', policies: 'ppai,local-only', progress: false, json }, fromSources)
    expect(code).toBe(0)
    const result = JSON.parse(readFileSync(json, 'utf8')) as { synthetic: boolean, results: Array<{ policy: string, lost: number }> }
    expect(result.synthetic).toBe(true)
    expect(result.results.map(r => r.policy)).toEqual(['ppai', 'local-only'])
    expect(result.results.every(r => r.lost === 0)).toBe(true)
  }, 60_000)

  it('returns exit code 2 for a bad option, as on the main thread', async () => {
    expect(await runBenchThread({ scenario: 'nope' }, fromSources)).toBe(2)
  }, 60_000)

  it('runs on the calling thread when the compiled worker is not there', async () => {
    expect(await runBenchThread({ scenario: 'paper' }, { url: new URL('./no-such-worker.js', import.meta.url) })).toBeUndefined()
  })
})
