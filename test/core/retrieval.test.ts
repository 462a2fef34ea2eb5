import { describe, expect, it } from 'vitest'
import { buildAgentPopulation, DEFAULT_POPULATION, queryText, retrievalRecall } from '../../src/bench/core-bench.js'
import { createHashEmbedder } from '../../src/core/embedder.js'
import { BucketCode } from '../../src/core/bucket-code.js'
import { CandidateIndex } from '../../src/core/retrieval.js'
import { seededRng, shuffled } from '../../src/core/rng.js'
import { predictSuccess } from '../../src/core/scoring.js'
import { cosine } from '../../src/core/vector.js'
import { loadQuestionSet, soundQuestions, splitBySubject, type Question } from '../../src/data/questions.js'

const embedder = createHashEmbedder()
const set = loadQuestionSet()
const label = set.synthetic ? 'synthetic' : 'MMLU-Redux'
const text = queryText(set)
const { train, test } = splitBySubject(soundQuestions(set), 0.55, seededRng('retrieval-test'))
const embeddings = new Map<string, Float32Array>()
const embed = (q: Question): Float32Array => {
  let e = embeddings.get(q.id)
  if (e == null) { e = embedder.embed(text(q)); embeddings.set(q.id, e) }
  return e
}

describe('bucket code', () => {
  const code = new BucketCode('net-a', embedder.dim)
  const v = embed(test[0])

  it('gives every node of a network the same keys, and another network other keys', () => {
    expect(new BucketCode('net-a', embedder.dim).keysFor(v)).toEqual(code.keysFor(v))
    const other = new BucketCode('net-b', embedder.dim).keysFor(v)
    expect(other.filter((k, i) => k === code.keysFor(v)[i]).length).toBeLessThan(code.tables / 2)
  })

  it('announces one short key per table, usable as a DHT key', () => {
    const keys = code.keysFor(v)
    expect(keys).toHaveLength(code.tables)
    keys.forEach((k, t) => expect(k).toMatch(new RegExp(`^t${t}:[0-9a-f]{${Math.ceil(code.bits / 4)}}$`)))
  })

  it('probes its own buckets first, then one flipped bit away per table', () => {
    expect(code.probeKeys(v, { radius: 0 })).toEqual(code.keysFor(v))
    const probes = code.probeKeys(v)
    expect(probes.slice(0, code.tables)).toEqual(code.keysFor(v))
    expect(probes).toHaveLength(code.tables * (1 + code.bits))
    expect(new Set(probes).size).toBe(probes.length)
    expect(code.probeKeys(v, { radius: 2, flipBits: 4 })).toHaveLength(code.tables * (1 + 4 + 6))
  })

  it('puts similar vectors in the same buckets more often than dissimilar ones', () => {
    const qs = test.slice(0, 300).map(embed)
    let nearShared = 0
    let nearPairs = 0
    let farShared = 0
    let farPairs = 0
    for (let i = 0; i < qs.length; i++) {
      for (let j = i + 1; j < qs.length; j++) {
        const s = cosine(qs[i], qs[j])
        if (s < 0.3 && s > 0.1) continue
        const a = code.keysFor(qs[i])
        const shared = code.keysFor(qs[j]).filter((k, t) => k === a[t]).length
        if (s >= 0.3) { nearShared += shared; nearPairs++ } else { farShared += shared; farPairs++ }
      }
    }
    expect(nearPairs).toBeGreaterThan(10)
    expect(nearShared / nearPairs).toBeGreaterThan(2 * (farShared / farPairs))
  })

  it('rejects a shape it cannot build', () => {
    expect(() => new BucketCode('n', 256, { bits: 17 })).toThrow(RangeError)
    expect(() => new BucketCode('n', 256, { tables: 0 })).toThrow(RangeError)
  })
})

describe(`candidate index (${label})`, () => {
  const agents = buildAgentPopulation(train, embed, embedder, { ...DEFAULT_POPULATION, agents: 1000, seed: 7 })
  const queries = shuffled(test, seededRng('retrieval-test-queries')).slice(0, 100).map(embed)

  function indexOf (list = agents): CandidateIndex {
    const index = new CandidateIndex(new BucketCode('test-net', embedder.dim))
    for (const a of list) index.upsert(a.id, a.profile)
    return index
  }

  it('returns the exhaustive top agents when it holds few prototypes (it scans them all)', () => {
    const few = agents.slice(0, 100)
    const index = indexOf(few)
    for (const e of queries.slice(0, 20)) {
      const truth = few.map(a => ({ id: a.id, m: predictSuccess(a.profile, e).mean })).sort((x, y) => y.m - x.m || (x.id < y.id ? -1 : 1))
      expect(index.candidates(e, 5)).toEqual(truth.slice(0, 5).map(x => x.id))
    }
  })

  it('scores candidates exactly as predictSuccess does', () => {
    const index = indexOf()
    const byId = new Map(agents.map(a => [a.id, a]))
    for (const e of queries.slice(0, 10)) {
      for (const c of index.rankedCandidates(e, 10)) {
        expect(c.score).toBeCloseTo(predictSuccess(byId.get(c.agentId)?.profile ?? agents[0].profile, e).mean, 12)
      }
    }
  })

  it('finds most of the true top 5 of 1,000 agents, scanning a fraction of their prototypes', () => {
    const index = indexOf()
    expect(index.size).toBe(1000)
    const r = retrievalRecall(index, agents, queries, 5)
    const median = r.latenciesMs.slice().sort((a, b) => a - b)[Math.floor(r.latenciesMs.length / 2)]
    console.log(`[${label}] 1000 agents, ${queries.length} held-out queries: recall@5 ${r.recall.toFixed(3)}, median ${median.toFixed(3)} ms per query`)
    expect(r.recall).toBeGreaterThan(0.85)
  })

  it('forgets a removed agent and follows a replaced profile', () => {
    const index = indexOf()
    const e = queries[0]
    const best = index.candidates(e, 1)[0]
    index.remove(best)
    expect(index.size).toBe(999)
    expect(index.candidates(e, 50)).not.toContain(best)
    expect(index.profileOf(best)).toBeUndefined()
    // The worst agent for this query becomes a perfect match: a profile at the query itself, 50 right answers.
    const worst = agents.map(a => ({ id: a.id, m: predictSuccess(a.profile, e).mean })).sort((x, y) => x.m - y.m)[0].id
    index.upsert(worst, { embedderId: embedder.id, dim: embedder.dim, version: 2, prototypes: [{ centroid: e, count: 50, alpha: 51, beta: 1 }] })
    expect(index.candidates(e, 1)).toEqual([worst])
    expect(index.size).toBe(999)
  })

  it('refuses a profile of another dimension', () => {
    const index = new CandidateIndex(new BucketCode('test-net', embedder.dim))
    expect(() => index.upsert('x', { embedderId: 'other', dim: 8, version: 1, prototypes: [] })).toThrow(RangeError)
  })
})
