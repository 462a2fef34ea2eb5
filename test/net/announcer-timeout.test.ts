import type { ContentRouting } from '@libp2p/interface'
import { describe, expect, it } from 'vitest'
import { BucketAnnouncer } from '../../src/net/buckets.js'

/** A content routing whose provides of the first `stuck` keys never end until aborted (a walk whose peers answer late for ever); the others succeed at once. */
function routing (stuck: number): { routing: ContentRouting, aborted: () => number } {
  let calls = 0
  let aborted = 0
  const r = {
    async provide (_cid: unknown, opts?: { signal?: AbortSignal }): Promise<void> {
      if (calls++ >= stuck) return
      await new Promise<void>((resolve, reject) => {
        opts?.signal?.addEventListener('abort', () => { aborted++; reject(new Error('aborted')) }, { once: true })
      })
    },
    async cancelReprovide (): Promise<void> {}
  }
  return { routing: r as unknown as ContentRouting, aborted: () => aborted }
}

describe('bucket announcer', () => {
  it('gives up a provide that does not end within its timeout, counts it failed, and provides it on the next pass', async () => {
    const { routing: r, aborted } = routing(1)
    const announcer = new BucketAnnouncer(r, 'announcer-timeout-test', { concurrency: 1, timeoutMs: 200 })
    const t0 = Date.now()
    expect(await announcer.announce(['a', 'b', 'c'])).toBe(2)
    expect(Date.now() - t0).toBeLessThan(5000)
    expect(aborted()).toBe(1)
    expect(announcer.stats.failed).toBe(1)
    expect(announcer.missing).toHaveLength(1)
    expect(await announcer.announce(['a', 'b', 'c'])).toBe(1)
    expect(announcer.missing).toEqual([])
  })
})
