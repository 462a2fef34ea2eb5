import { describe, expect, it } from 'vitest'
import { DeviceQueue, type QueuedJob } from '../../src/sim/device-queue.js'

function job (name: string, remote: boolean): QueuedJob<string> {
  return { query: name, remote, token: 0, serviceMs: 100 }
}

describe('DeviceQueue', () => {
  it('serves the owner first and remote requests in arrival order, across emptying and refilling', () => {
    const dev = new DeviceQueue<string>()
    const served: string[] = []
    for (let round = 0; round < 3; round++) {
      dev.enqueue(job(`r${round}a`, true))
      dev.enqueue(job(`o${round}a`, false))
      dev.enqueue(job(`r${round}b`, true))
      dev.enqueue(job(`o${round}b`, false))
      expect(dev.backlog).toBe(4)
      for (let next = dev.next(); next !== undefined; next = dev.next()) served.push(next.query)
      expect(dev.backlog).toBe(0)
    }
    expect(served).toEqual(['o0a', 'o0b', 'r0a', 'r0b', 'o1a', 'o1b', 'r1a', 'r1b', 'o2a', 'o2b', 'r2a', 'r2b'])
  })

  it('drops exactly the remote requests still waiting when some were already served', () => {
    const dev = new DeviceQueue<string>()
    for (let i = 0; i < 5; i++) dev.enqueue(job(`r${i}`, true))
    dev.enqueue(job('own', false))
    expect(dev.next()?.query).toBe('own')
    expect(dev.next()?.query).toBe('r0')
    expect(dev.next()?.query).toBe('r1')
    expect(dev.remoteQueued).toBe(3)
    expect(dev.dropRemote().map(j => j.query)).toEqual(['r2', 'r3', 'r4'])
    expect(dev.backlog).toBe(0)
    expect(dev.next()).toBeUndefined()
  })

  it('keeps arrival order over thousands of jobs that never let the queue empty', () => {
    const dev = new DeviceQueue<string>()
    const served: string[] = []
    let sent = 0
    for (let step = 0; step < 5000; step++) {
      dev.enqueue(job(`j${sent++}`, true))
      if (step % 2 === 0) dev.enqueue(job(`j${sent++}`, true))
      const next = dev.next()
      if (next !== undefined) served.push(next.query)
    }
    expect(dev.backlog).toBe(sent - served.length)
    expect(served).toEqual(Array.from({ length: served.length }, (_, i) => `j${i}`))
  })
})
