import { describe, expect, it } from 'vitest'
import { createLsaEmbedder, fitLsaSpace, logisticTopicBasis, wordCounts, type LsaSpace, type SparseDoc } from '../../src/core/lsa.js'
import { seededRng } from '../../src/core/rng.js'

const TOPICS = ['algebra', 'botany', 'chemistry', 'drama']

/**
 * Labelled texts where topics overlap: each topic has eight words of its own
 * but draws most words from a pool shared by all (with a topic-dependent
 * tilt), so that frequent shared words dominate a centroid while only the
 * rarer own words tell the topics apart.
 */
function corpus (seed: number, perTopic: number): { texts: string[], labels: string[] } {
  const r = seededRng(seed)
  const shared = Array.from({ length: 40 }, (_, i) => `common${i}`)
  const texts: string[] = []
  const labels: string[] = []
  for (let n = 0; n < perTopic; n++) {
    for (let t = 0; t < TOPICS.length; t++) {
      const words: string[] = []
      for (let w = 0; w < 14; w++) {
        // Topic t leans on a quarter of the shared pool, but only a little.
        const lean = r() < 0.2 ? t * 10 + Math.floor(r() * 10) : Math.floor(r() * 40)
        words.push(shared[lean])
      }
      for (let w = 0; w < 1; w++) words.push(`${TOPICS[t]}word${Math.floor(r() * 8)}`)
      // One word of another topic: the own words are not a perfect tell either.
      words.push(`${TOPICS[(t + 1 + Math.floor(r() * 3)) % 4]}word${Math.floor(r() * 8)}`)
      texts.push(words.join(' '))
      labels.push(TOPICS[t])
    }
  }
  return { texts, labels }
}

/** Share of texts whose largest coordinate is their own topic's (topics are columns in sorted order). */
function topOne (space: LsaSpace, texts: readonly string[], labels: readonly string[]): number {
  const embed = createLsaEmbedder(space).embed
  let right = 0
  texts.forEach((text, i) => {
    const v = embed(text) as Float32Array
    let best = 0
    for (let k = 1; k < v.length; k++) if (v[k] > v[best]) best = k
    if (TOPICS[best] === labels[i]) right++
  })
  return right / texts.length
}

describe('the features of a text (wordCounts)', () => {
  it('are its words and each ordered pair of consecutive words, stop words skipped', () => {
    const ab = wordCounts('public key')
    const ba = wordCounts('key public')
    expect(ab.size).toBe(3)
    expect(ba.size).toBe(3)
    // The two words are shared; the pair is not, since order matters.
    expect([...ab.keys()].filter(k => ba.has(k))).toHaveLength(2)
    expect(wordCounts('public of the key')).toEqual(ab)
    // public, key, "public key" twice each; "key public" once.
    expect([...wordCounts('public key public key').values()].sort()).toEqual([1, 2, 2, 2])
  })
})

describe('topic spaces (fitLsaSpace with labels)', () => {
  const train = corpus(1, 60)
  const test = corpus(2, 50)

  it('fits one dimension per topic, by logistic regression unless told otherwise', () => {
    const logistic = fitLsaSpace(train.texts, { labels: train.labels, source: 'test' })
    const centroid = fitLsaSpace(train.texts, { labels: train.labels, source: 'test', topicFit: 'centroid' })
    expect(logistic.dim).toBe(TOPICS.length)
    expect(centroid.dim).toBe(TOPICS.length)
    expect(Array.from(logistic.basis)).not.toEqual(Array.from(centroid.basis))
    const explicit = fitLsaSpace(train.texts, { labels: train.labels, source: 'test', topicFit: 'logistic' })
    expect(Array.from(explicit.basis)).toEqual(Array.from(logistic.basis))
  })

  it('is deterministic: the same corpus gives the same space and the same id', () => {
    const a = fitLsaSpace(train.texts, { labels: train.labels, source: 'test' })
    const b = fitLsaSpace(train.texts, { labels: train.labels, source: 'test' })
    expect(Array.from(a.basis)).toEqual(Array.from(b.basis))
    expect(createLsaEmbedder(a).id).toBe(createLsaEmbedder(b).id)
  })

  it('tells held-out texts\' topics apart at least as well as the centroids where topics overlap', () => {
    const logistic = topOne(fitLsaSpace(train.texts, { labels: train.labels, source: 'test' }), test.texts, test.labels)
    const centroid = topOne(fitLsaSpace(train.texts, { labels: train.labels, source: 'test', topicFit: 'centroid' }), test.texts, test.labels)
    // Measured: logistic 0.73, centroid 0.715 (chance 0.25).
    expect(logistic).toBeGreaterThan(0.7)
    expect(logistic).toBeGreaterThanOrEqual(centroid)
  })

  it('fits barely at all with no steps: the step count is what trains it', () => {
    const none = fitLsaSpace(train.texts, { labels: train.labels, source: 'test', fitIterations: 0 })
    expect(Array.from(none.basis).every(x => x === 0)).toBe(true)
  })

  it('refuses labels that do not match the documents', () => {
    expect(() => fitLsaSpace(train.texts, { labels: train.labels.slice(1), source: 'test' })).toThrow(RangeError)
  })
})

describe('the logistic topic fit (logisticTopicBasis)', () => {
  it('fits the features found in one document only as one, to the same basis as fitting each', () => {
    const r = seededRng(7)
    const m = 60
    const docs: SparseDoc[] = []
    const labels: string[] = []
    for (let d = 0; d < 40; d++) {
      const rows = new Set<number>()
      // Rows 0-29 are shared; each document also has its own rows among 30 + d (one document only).
      for (let k = 0; k < 6; k++) rows.add(Math.floor(r() * 30))
      if (d < 30) rows.add(30 + d)
      const list = [...rows]
      const weights = list.map(() => 0.2 + r())
      const norm = Math.sqrt(weights.reduce((s, x) => s + x * x, 0))
      docs.push({ rows: list, weights: weights.map(x => x / norm) })
      labels.push(TOPICS[d % TOPICS.length])
    }
    const collapsed = logisticTopicBasis(docs, labels, m, 1e-3, 50)
    const each = logisticTopicBasis(docs, labels, m, 1e-3, 50, false)
    expect(collapsed.topics).toBe(TOPICS.length)
    const a = Array.from(collapsed.basis)
    const b = Array.from(each.basis)
    // The one-document rows learnt something, and the same thing either way.
    expect(Math.max(...b.slice(30 * TOPICS.length).map(Math.abs))).toBeGreaterThan(0.01)
    for (let i = 0; i < a.length; i++) expect(a[i]).toBeCloseTo(b[i], 5)
  })
})
