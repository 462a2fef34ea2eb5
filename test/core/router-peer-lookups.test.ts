import { describe, expect, it } from 'vitest'
import { PeerObservations } from '../../src/core/scoring.js'

const SPACE = 'test-space-d8'
const DIM = 8

function axis (i: number): Float32Array {
  const v = new Float32Array(DIM)
  v[i] = 1
  return v
}

describe('PeerObservations lookups', () => {
  it('counts the answers of a peer first asked about before it ever answered', () => {
    const seen = new PeerObservations(SPACE, DIM)
    expect(seen.estimate('p', axis(0))).toBeUndefined()
    expect(seen.count('p')).toBe(0)
    seen.record('p', axis(0), 1)
    seen.record('p', axis(1), 0)
    expect(seen.count('p')).toBe(2)
    expect(seen.estimate('p', axis(0))?.evidence).toBeGreaterThan(0)
  })

  it('knows nothing of a peer evicted or forgotten right after it was asked about', () => {
    const seen = new PeerObservations(SPACE, DIM, { maxPeers: 1 })
    seen.record('a', axis(0), 1)
    expect(seen.count('a')).toBe(1)
    seen.record('b', axis(0), 1)
    expect(seen.count('a')).toBe(0)
    expect(seen.estimate('a', axis(0))).toBeUndefined()
    expect(seen.count('b')).toBe(1)
    seen.forget('b')
    expect(seen.count('b')).toBe(0)
    expect(seen.estimate('b', axis(0))).toBeUndefined()
  })
})
