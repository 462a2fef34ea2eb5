import { describe, expect, it } from 'vitest'
import { admitRemote, EXPERT_ADMISSION, ownerFirstInsertIndex, type QueueOrigin } from '../../src/core/admission.js'

describe('admitRemote', () => {
  it('lends the agent only where it is good: a query below the expert bar is refused even when idle', () => {
    const idle = { backlog: 0, remoteQueued: 0, serviceMs: 1000, ownerArrivalPerSec: 0.1 }
    const weak = admitRemote({ ...idle, ownSuccess: EXPERT_ADMISSION.minSuccess - 0.01 })
    expect(weak.admit).toBe(false)
    expect(weak.reason).toBe('not-expert')
    expect(admitRemote({ ...idle, ownSuccess: EXPERT_ADMISSION.minSuccess }).admit).toBe(true)
  })

  it('admits an expert\'s query on looser terms: a longer owner wait and more remote slots than the plain ones', () => {
    // Owner backlog 3: a predicted owner wait of 4 services, over the plain bound of 2, under the expert's 6.
    const busy = { backlog: 3, remoteQueued: 0, serviceMs: 1000, ownerArrivalPerSec: 0 }
    expect(admitRemote(busy).reason).toBe('owner-wait-bound')
    expect(admitRemote({ ...busy, ownSuccess: 0.9 }).admit).toBe(true)
    const slots = { backlog: 5, remoteQueued: 5, serviceMs: 1000, ownerArrivalPerSec: 0 }
    expect(admitRemote(slots).reason).toBe('remote-queue-full')
    expect(admitRemote({ ...slots, ownSuccess: 0.9 }).admit).toBe(true)
    expect(admitRemote({ ...slots, backlog: EXPERT_ADMISSION.maxRemoteQueued, remoteQueued: EXPERT_ADMISSION.maxRemoteQueued, ownSuccess: 0.9 }).reason).toBe('remote-queue-full')
    // The owner's explicit terms still win.
    expect(admitRemote({ ...busy, ownSuccess: 0.9 }, { ownerWaitBoundMs: 2000 }).reason).toBe('owner-wait-bound')
  })

  it('admits a remote query into an idle agent', () => {
    const verdict = admitRemote({ backlog: 0, remoteQueued: 0, serviceMs: 1000, ownerArrivalPerSec: 0.1 })
    expect(verdict.admit).toBe(true)
    expect(verdict.reason).toBe('admitted')
    // One non-preemptible service, stretched by the owner's own arrivals (ρ = 0.1).
    expect(verdict.predictedOwnerWaitMs).toBeCloseTo(1000 / 0.9, 9)
  })

  it('refuses fast when the owner would wait beyond its bound', () => {
    const verdict = admitRemote({ backlog: 2, remoteQueued: 0, serviceMs: 1000, ownerArrivalPerSec: 0.1 })
    expect(verdict.admit).toBe(false)
    expect(verdict.reason).toBe('owner-wait-bound')
    expect(verdict.predictedOwnerWaitMs).toBeGreaterThan(2000)
  })

  it('does not count queued remote queries against the owner, only against the remote cap', () => {
    const state = { backlog: 3, remoteQueued: 3, serviceMs: 1000, ownerArrivalPerSec: 0 }
    expect(admitRemote(state).admit).toBe(true)
    const full = admitRemote({ ...state, backlog: 4, remoteQueued: 4 })
    expect(full.admit).toBe(false)
    expect(full.reason).toBe('remote-queue-full')
    expect(admitRemote({ ...state, backlog: 4, remoteQueued: 4 }, { maxRemoteQueued: 8 }).admit).toBe(true)
  })

  it('keeps one peer to its share of the remote slots while others still get in', () => {
    const state = { backlog: 2, remoteQueued: 2, serviceMs: 1000, ownerArrivalPerSec: 0 }
    // Default share: half of the 4 remote slots.
    const greedyPeer = admitRemote({ ...state, fromPeerQueued: 2 })
    expect(greedyPeer).toMatchObject({ admit: false, reason: 'peer-share' })
    expect(admitRemote({ ...state, fromPeerQueued: 0 }).admit).toBe(true)
    expect(admitRemote({ ...state, fromPeerQueued: 1 }).admit).toBe(true)
    // Configurable, and not applied when the caller does not track peers.
    expect(admitRemote({ ...state, fromPeerQueued: 2 }, { maxPerPeerQueued: 3 }).admit).toBe(true)
    expect(admitRemote(state).admit).toBe(true)
  })

  it('admits more when the owner tolerates a longer wait', () => {
    const state = { backlog: 2, remoteQueued: 0, serviceMs: 1000, ownerArrivalPerSec: 0.1 }
    expect(admitRemote(state).admit).toBe(false)
    expect(admitRemote(state, { ownerWaitBoundMs: 5000 }).admit).toBe(true)
  })

  it('refuses everything while the owner alone saturates the agent', () => {
    const verdict = admitRemote({ backlog: 0, remoteQueued: 0, serviceMs: 1000, ownerArrivalPerSec: 1.2 }, { ownerWaitBoundMs: 1e9 })
    expect(verdict).toEqual({ admit: false, reason: 'owner-saturated', predictedOwnerWaitMs: Infinity })
  })

  it('predicts a longer owner wait as the owner gets busier', () => {
    const waits = [0, 0.2, 0.5, 0.8].map(rate => admitRemote({ backlog: 1, remoteQueued: 0, serviceMs: 1000, ownerArrivalPerSec: rate }).predictedOwnerWaitMs)
    for (let i = 1; i < waits.length; i++) expect(waits[i]).toBeGreaterThan(waits[i - 1])
  })
})

describe('ownerFirstInsertIndex', () => {
  it('queues an owner query after waiting owner queries and before every remote one', () => {
    expect(ownerFirstInsertIndex(['owner', 'owner', 'remote', 'remote'], 'owner')).toBe(2)
    expect(ownerFirstInsertIndex(['remote'], 'owner')).toBe(0)
    expect(ownerFirstInsertIndex([], 'owner')).toBe(0)
    expect(ownerFirstInsertIndex(['owner', 'remote'], 'remote')).toBe(2)
  })

  it('serves owners first and each origin in arrival order', () => {
    const arrivals: Array<[QueueOrigin, string]> = [['remote', 'r1'], ['owner', 'o1'], ['remote', 'r2'], ['owner', 'o2'], ['owner', 'o3']]
    const queue: Array<[QueueOrigin, string]> = []
    for (const item of arrivals) queue.splice(ownerFirstInsertIndex(queue.map(q => q[0]), item[0]), 0, item)
    expect(queue.map(q => q[1])).toEqual(['o1', 'o2', 'o3', 'r1', 'r2'])
  })
})
