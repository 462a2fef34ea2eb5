import { createHash } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { describe, expect, it } from 'vitest'
import { buildScenario, buildScenarioParallel, PARALLEL_MIN_PROFILES, scenarioDefaults, type BuiltScenario, type ScenarioParams } from '../../src/bench/scenarios.js'
import { syntheticQuestionSet } from '../../src/data/questions.js'

/** The worker run from the TypeScript sources, as vitest runs the tests. */
const fromSources = {
  url: new URL('../../src/bench/build-worker.ts', import.meta.url),
  execArgv: ['--experimental-transform-types', '--no-warnings', '--import', new URL('./support/ts-worker-hooks.ts', import.meta.url).href]
}

/** A scale-like world: many agents as replicas of a few hundred personas. */
function scaleLike (): ScenarioParams {
  const p = scenarioDefaults('scale')
  p.agents.agents = 900
  p.agents.personas = 300
  p.agents.profileExamples = 40
  return p
}

/** Everything a simulation reads of the world: each question's candidates for a few users, and every profile. */
function fingerprint (built: BuiltScenario): string {
  const h = createHash('sha256')
  const w = built.world
  for (const q of w.pool.all) for (const user of [0, 5, 899]) h.update(`${q.id}:${w.retrieve(q, user).join(',')};`)
  for (const a of w.agents) {
    h.update(`${a.id}|${a.interests.join(',')}|${a.speedDraw}|`)
    for (const p of a.profile.prototypes) h.update(`${Buffer.from(p.centroid.buffer, p.centroid.byteOffset, p.centroid.byteLength).toString('hex')},${p.count},${p.alpha},${p.beta};`)
  }
  return h.digest('hex')
}

describe('building a scenario on two threads', () => {
  const set = syntheticQuestionSet(1)
  const p = scaleLike()
  const alone = buildScenario(set, p)
  const expected = fingerprint(alone)

  it('builds the very world one thread builds, with a worker sharing the work', async () => {
    const built = await buildScenarioParallel(set, p, { worker: 'always', workerOptions: fromSources })
    expect(built.threads).toBe(2)
    expect(built.byWorker.profiles).toBeGreaterThan(0)
    // (Rankings go to whichever thread is free: scored exactly by one dot product a profile (core/density-scores.ts) in a
    // space with a corpus reference, they may all be done by the main thread before the worker has built its index.)
    expect(alone.threads).toBe(1)
    expect(fingerprint(built)).toBe(expected)
  })

  it('builds on one thread, to the same world, when the worker file is not there', async () => {
    const built = await buildScenarioParallel(set, p, { worker: 'always', workerOptions: { url: new URL('./no-such-worker.js', import.meta.url) } })
    expect(built.threads).toBe(1)
    expect(fingerprint(built)).toBe(expected)
  })

  it('builds on one thread, to the same world, when the worker fails', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ppai-worker-'))
    const broken = join(dir, 'broken-worker.mjs')
    writeFileSync(broken, 'throw new Error("broken on purpose")\n')
    const built = await buildScenarioParallel(set, p, { worker: 'always', workerOptions: { url: pathToFileURL(broken) } })
    expect(built.threads).toBe(1)
    expect(fingerprint(built)).toBe(expected)
  })

  it('lists each user one replica of each ranked persona, from the user\'s own offset', () => {
    const w = alone.world
    const personaOf = (j: number): number => j % p.agents.personas
    for (const q of w.pool.all.slice(0, 20)) {
      const lists = [0, 1, 2, 3, 899].map(user => w.retrieve(q, user))
      for (const list of lists) {
        expect(list.length).toBe(2 * p.sim.candidatesPerQuery + 1)
        // Distinct personas, in the index's order (the same for every user).
        expect(new Set(list.map(personaOf)).size).toBe(list.length)
        expect(list.map(personaOf)).toEqual(lists[0].map(personaOf))
      }
      // Users 0 and 1 list other replicas of the same personas; users 0 and 3 (the same offset among 3 replicas) the same ones.
      expect(lists[1].every((j, n) => j !== lists[0][n])).toBe(true)
      expect(lists[3]).toEqual(lists[0])
    }
  })

  it('keeps a small world on one thread unless told otherwise', async () => {
    const paper = scenarioDefaults('paper')
    expect(paper.agents.agents).toBeLessThan(PARALLEL_MIN_PROFILES)
    const built = await buildScenarioParallel(set, paper, { workerOptions: fromSources })
    expect(built.threads).toBe(1)
    expect(fingerprint(built)).toBe(fingerprint(buildScenario(set, paper)))
  })
})
