import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createHashEmbedder } from '../../src/core/embedder.js'
import { emptyProfile, observe } from '../../src/core/prototypes.js'
import { PeerObservations } from '../../src/core/scoring.js'
import type { Profile } from '../../src/core/types.js'
import { NodeStateStore, PEERS_FILE, PROFILE_FILE, StateSaver, type PeerState } from '../../src/net/node-state.js'

const embedder = createHashEmbedder()

function learnt (questions: string[]): Profile {
  const p = emptyProfile(embedder.id, embedder.dim)
  questions.forEach((q, i) => observe(p, embedder.embed(q), i % 2))
  return p
}

function peers (): PeerState {
  const obs = new PeerObservations(embedder.id, embedder.dim)
  obs.record('peer-a', embedder.embed('the boiling point of water'), 1)
  obs.record('peer-b', embedder.embed('the French revolution'), 0)
  obs.record('peer-a', embedder.embed('the melting point of ice'), 1)
  return { observations: obs.entries(), ratings: [{ peerId: 'peer-a', sum: 2, count: 2 }, { peerId: 'peer-b', sum: 0, count: 1 }] }
}

const total = (p: Profile | undefined): number => (p?.prototypes ?? []).reduce((s, q) => s + q.count, 0)

describe('NodeStateStore', () => {
  let dir: string
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'ppai-state-')) })
  afterEach(() => { rmSync(dir, { recursive: true, force: true }) })

  it('reads back what it saved: the profile and the observations of peers, in recency order', async () => {
    const store = new NodeStateStore(dir, embedder.id)
    const profile = learnt(['a question on physics', 'a question on history', 'one more on physics'])
    await store.save({ profile, peers: peers() })
    const loaded = await store.load()
    expect(loaded.setAside).toEqual([])
    expect(total(loaded.profile)).toBe(3)
    expect(loaded.profile?.version).toBe(profile.version)
    expect(loaded.peers?.ratings).toEqual(peers().ratings)
    expect(loaded.peers?.observations.map(o => o.peerId)).toEqual(['peer-b', 'peer-a'])
    const restored = new PeerObservations(embedder.id, embedder.dim)
    for (const o of loaded.peers?.observations ?? []) restored.restore(o.peerId, o.profile)
    expect(restored.count('peer-a')).toBe(2)
    expect(restored.count('peer-b')).toBe(1)
  })

  it('keeps the file a save replaced, and falls back to it when the current one is truncated, moving the damaged one aside', async () => {
    const store = new NodeStateStore(dir, embedder.id)
    await store.save({ profile: learnt(['one', 'two']), peers: peers() })
    await store.save({ profile: learnt(['one', 'two', 'three']), peers: peers() })
    expect(existsSync(join(dir, PROFILE_FILE + '.prev'))).toBe(true)
    const size = readFileSync(join(dir, PROFILE_FILE)).length
    truncateSync(join(dir, PROFILE_FILE), Math.floor(size / 2))
    writeFileSync(join(dir, PEERS_FILE), '{"format":1,"embedderId":')
    const loaded = await store.load()
    // The previous copies: one rating behind, never empty.
    expect(total(loaded.profile)).toBe(2)
    expect(loaded.peers?.ratings.length).toBe(2)
    expect(loaded.from).toEqual([join(dir, PROFILE_FILE + '.prev'), join(dir, PEERS_FILE + '.prev')])
    expect(loaded.setAside.map(s => s.file)).toEqual([join(dir, PROFILE_FILE), join(dir, PEERS_FILE)])
    expect(loaded.setAside[0].reason).toMatch(/TRUNCATED/)
    // Moved aside, not deleted, and never overwritten by the next save.
    for (const s of loaded.setAside) expect(existsSync(s.movedTo)).toBe(true)
    const damaged = readFileSync(loaded.setAside[0].movedTo)
    await store.save({ profile: learnt(['one', 'two', 'three', 'four']), peers: peers() })
    expect(readFileSync(loaded.setAside[0].movedTo)).toEqual(damaged)
    expect(total((await store.load()).profile)).toBe(4)
  })

  it('sets aside a profile of another embedding space instead of using or overwriting it', async () => {
    const other = createHashEmbedder({ dim: 64 })
    const foreign = emptyProfile(other.id, other.dim)
    observe(foreign, other.embed('learnt in another space'), 1)
    await new NodeStateStore(dir, other.id).save({ profile: foreign, peers: { observations: [], ratings: [] } })
    const loaded = await new NodeStateStore(dir, embedder.id).load()
    expect(loaded.profile).toBeUndefined()
    expect(loaded.peers).toBeUndefined()
    expect(loaded.setAside.map(s => s.file)).toEqual([join(dir, PROFILE_FILE), join(dir, PEERS_FILE)])
    expect(loaded.setAside[0].reason).toMatch(/another embedding space/)
    expect(loaded.setAside[0].movedTo).toMatch(/profile\.bin\.other-space-/)
    expect(readFileSync(loaded.setAside[0].movedTo).length).toBeGreaterThan(0)
  })

  it('removes the temporary files of writes a crash interrupted', async () => {
    writeFileSync(join(dir, `${PROFILE_FILE}.123456789`), 'half a write')
    writeFileSync(join(dir, 'unrelated.txt'), 'kept')
    await new NodeStateStore(dir, embedder.id).load()
    expect(readdirSync(dir)).toEqual(['unrelated.txt'])
  })

  it('saves soon after a change, once for a burst of changes, and on flush', async () => {
    const store = new NodeStateStore(dir, embedder.id)
    const profile = learnt(['first'])
    const saver = new StateSaver(store, { profile: () => profile, peerState: () => ({ observations: [], ratings: [] }) }, 100)
    for (let i = 0; i < 20; i++) {
      observe(profile, embedder.embed(`rating ${i}`), 1)
      saver.changed()
    }
    expect(existsSync(join(dir, PROFILE_FILE))).toBe(false)
    const deadline = Date.now() + 5000
    while (saver.saves === 0 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
    expect(saver.saves).toBe(1)
    expect(total((await store.load()).profile)).toBe(21)
    observe(profile, embedder.embed('last'), 1)
    await saver.flush({ close: true })
    saver.changed()
    expect(total((await store.load()).profile)).toBe(22)
    expect(saver.saves).toBe(2)
  })
})
