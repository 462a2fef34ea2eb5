import { describe, expect, it } from 'vitest'
import { seededRng } from '../../src/core/rng.js'
import { EventQueue } from '../../src/sim/event-queue.js'
import { BurstyArrivals } from '../../src/sim/workload.js'
import { RateMeter } from '../../src/sim/rate-meter.js'

describe('workload and event queue', () => {
  it('pops events in time order, ties in insertion order', () => {
    const q = new EventQueue<string>()
    const rng = seededRng(3)
    const times: number[] = []
    for (let i = 0; i < 500; i++) {
      const t = Math.floor(rng() * 50)
      times.push(t)
      q.push(t, `${t}:${i}`)
    }
    let last = -1
    let lastSeq = -1
    while (q.size > 0) {
      const e = q.pop()
      if (e === undefined) break
      expect(e.time).toBeGreaterThanOrEqual(last)
      if (e.time === last) expect(e.seq).toBeGreaterThan(lastSeq)
      last = e.time
      lastSeq = e.seq
    }
    expect(q.pop()).toBeUndefined()
  })

  it('keeps the long-run arrival rate while bursting', () => {
    const params = { meanRatePerSec: 0.5, burstFactor: 5, burstFraction: 0.2, meanBurstMs: 10_000 }
    const arrivals = new BurstyArrivals(params, seededRng(7))
    let t = 0
    let n = 0
    const gaps: number[] = []
    while (n < 20_000) {
      const next = arrivals.next(t)
      gaps.push(next - t)
      t = next
      n++
    }
    const rate = n / (t / 1000)
    expect(rate).toBeGreaterThan(0.45)
    expect(rate).toBeLessThan(0.55)
    // Bursts make gaps more variable than a plain Poisson process (coefficient of variation > 1).
    const mean = gaps.reduce((a, b) => a + b, 0) / gaps.length
    const sd = Math.sqrt(gaps.reduce((a, b) => a + (b - mean) ** 2, 0) / gaps.length)
    expect(sd / mean).toBeGreaterThan(1.1)
  })

  it('measures an arrival rate close to the true one', () => {
    const meter = new RateMeter(30_000)
    for (let t = 0; t < 300_000; t += 500) meter.add(t)
    expect(meter.ratePerSec(300_000)).toBeGreaterThan(1.8)
    expect(meter.ratePerSec(300_000)).toBeLessThan(2.2)
  })
})
