/**
 * A flood of maximum-size questions does not grow a node's memory: a real
 * `ppai node` process gets 1,000 questions of 250,000 characters (just under
 * the 256 KiB body limit), one in ten routed, four at a time; its resident set
 * (from /proc) must stay within the bound the README states. The answer memos
 * kept for ratings hold a routed question's vector or the first 16,000
 * characters of a forced one, 16 MiB in all (src/net/answer-memos.ts); the
 * code before kept every question whole (1,000 of them: +280 MB).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { NodeProcess } from '../../src/demo/node-process.js'

const CLI = resolve('dist/cli.js')
const QUESTIONS = 1000
const CHARS = 250_000
/** The README's bound: resident memory during and after the flood within this of the idle node's. */
const BOUND_MB = 200

function rssMb (pid: number): number {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  if (m == null) throw new Error(`no VmRSS in /proc/${pid}/status`)
  return Number(m[1]) / 1024
}

describe('a flood of maximum-size questions', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ppai-flood-'))
  const node = new NodeProcess({
    name: 'flooded',
    cliPath: CLI,
    dir,
    startTimeoutMs: 30_000,
    args: ['--name', 'flooded', '--data-dir', join(dir, 'data'), '--host', '127.0.0.1', '--port', '0', '--api-port', '0', '--no-mdns', '--network', 'flood-test', '--backend', 'instant', '--log-level', 'warn']
  })
  afterAll(async () => {
    await node.kill()
    node.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it(`keeps the node's resident memory within ${BOUND_MB} MB of idle`, async () => {
    const { apiUrl } = await node.start()
    const pid = node.pid ?? 0
    const ask = async (content: string, model: string): Promise<{ id: string }> => {
      const res = await fetch(`${apiUrl}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model, messages: [{ role: 'user', content }] }) })
      expect(res.status).toBe(200)
      return (await res.json() as { ppai: { id: string } }).ppai
    }
    for (let i = 0; i < 20; i++) await ask(`warm-up question ${i} on physics and history`, i % 2 === 0 ? 'local' : 'ppai')
    await new Promise(resolve => setTimeout(resolve, 1000))
    const idle = rssMb(pid)
    const text = 'energy mass light atom cell law market poem river number '.repeat(Math.ceil(CHARS / 50))
    let next = 0
    let peak = idle
    let first: { id: string } | undefined
    const t0 = Date.now()
    await Promise.all([0, 1, 2, 3].map(async () => {
      while (next < QUESTIONS && Date.now() - t0 < 240_000) {
        const i = next++
        const answer = await ask(`${i} ${text}`.slice(0, CHARS), i % 10 === 0 ? 'ppai' : 'local')
        first ??= answer
        if (i % 50 === 0) peak = Math.max(peak, rssMb(pid))
      }
    }))
    expect(next).toBeGreaterThanOrEqual(QUESTIONS)
    await new Promise(resolve => setTimeout(resolve, 2000))
    const after = rssMb(pid)
    peak = Math.max(peak, after)
    console.log(`[question-flood] ${QUESTIONS} questions of ${CHARS} chars in ${((Date.now() - t0) / 1000).toFixed(1)} s: RSS idle ${idle.toFixed(0)} MB, after ${after.toFixed(0)} MB, peak ${peak.toFixed(0)} MB (bound idle + ${BOUND_MB} MB)`)
    expect(after - idle).toBeLessThan(BOUND_MB)
    expect(peak - idle).toBeLessThan(BOUND_MB)
    // The newest answers can still be rated: a flood pushes out only the oldest memos.
    const latest = await ask(`one more ${text}`.slice(0, CHARS), 'local')
    const rated = await fetch(`${apiUrl}/api/feedback`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: latest.id, rating: 1 }) })
    expect(rated.status).toBe(200)
    // ...and the oldest ones have been let go.
    const forgotten = await fetch(`${apiUrl}/api/feedback`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: first?.id, rating: 1 }) })
    expect(forgotten.status).toBe(404)
  }, 300_000)
})
