import { describe, expect, it } from 'vitest'
import { LoadBeliefs } from '../../src/core/beliefs.js'
import { Decider } from '../../src/core/decider.js'
import type { LoadBeacon } from '../../src/core/types.js'

function beacon (over: Partial<LoadBeacon> = {}): LoadBeacon {
  return { peerId: 'peer', backlog: 3, serviceMs: 2000, arrivalPerSec: 0.2, sentAt: 1000, ...over }
}

describe('a decider\'s beliefs (node and simulator)', () => {
  it('applies a beacon heard twice once: heard again a minute later, it neither re-anchors the belief nor counts as fresh', () => {
    const decider = new Decider({ embedderId: 'hash', dim: 4, policy: 'ppai', beaconWindowMs: 2000 })
    decider.hearBeacon(beacon(), 1100)
    decider.hearBeacon(beacon(), 61_500)
    const belief = decider.beliefs.belief('peer', 62_000)
    // Carried forward for a minute from the one reading, not reset to it.
    expect(belief.ageMs).toBe(61_000)
    expect(belief.variance).toBeGreaterThan(0)
    // Its beacon was received at 1.1 s and is stale a minute later.
    expect(decider.beliefs.estimateRivals(62_000, 2000)).toBe(0)
    // A newer beacon is applied.
    decider.hearBeacon(beacon({ backlog: 1, sentAt: 61_900 }), 62_000)
    expect(decider.beliefs.belief('peer', 61_900)).toEqual({ mean: 1, variance: 0, ageMs: 0 })
  })

  it('holds the same beliefs whether a beacon is offered once or again (onNewBeacon), as onBeacon applied once', () => {
    const once = new LoadBeliefs()
    const again = new LoadBeliefs()
    const beacons = [beacon(), beacon({ peerId: 'other', backlog: 0, sentAt: 1200 }), beacon({ backlog: 5, sentAt: 3000 })]
    for (const b of beacons) once.onBeacon(b, b.sentAt + 100)
    for (const b of beacons) {
      expect(again.onNewBeacon(b, b.sentAt + 100)).toBe(true)
      expect(again.onNewBeacon(b, b.sentAt + 400)).toBe(false)
    }
    for (const id of ['peer', 'other']) expect(again.belief(id, 5000)).toEqual(once.belief(id, 5000))
    expect(again.estimateRivals(5000, 2000)).toBe(once.estimateRivals(5000, 2000))
  })
})
