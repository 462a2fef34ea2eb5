import { describe, expect, it } from 'vitest'
import { createHashEmbedder } from '../../src/core/embedder.js'
import { buildProfile, emptyProfile } from '../../src/core/prototypes.js'
import { seededRng } from '../../src/core/rng.js'
import { DEFAULT_PRIOR, SCORING_DEFAULTS, kernelWeight, PeerObservations, predictSuccess, scoreCandidate } from '../../src/core/scoring.js'
import type { Profile } from '../../src/core/types.js'
import { loadQuestionSet, soundQuestions, splitBySubject, syntheticQuestionSet, type Question, type QuestionSet } from '../../src/data/questions.js'

const embedder = createHashEmbedder()
/** The query as a user would send it: the question and its options. */
const text = (q: Question): string => `${q.question} ${q.choices.join(' ')}`
/** The synthetic set's options are placeholders shared by every question: they say nothing, so its queries are the question alone. */
const queryText = (set: QuestionSet) => (q: Question): string => set.synthetic ? q.question : text(q)

/** A profile of `count` answered queries per text, all with the same outcome. */
function profileOf (texts: string[], outcome: number, count: number): Profile {
  return buildProfile(embedder.id, embedder.dim, texts.flatMap(t => Array.from({ length: count }, () => ({ embedding: embedder.embed(t), outcome }))))
}

describe('predicted success', () => {
  const astronomy = profileOf(['telescope galaxy redshift nebula', 'supernova star orbit comet'], 1, 10)
  const star = embedder.embed('the telescope saw a galaxy with a large redshift')
  const contract = embedder.embed('the plaintiff sued over a breach of contract')

  it('is the prior, with the prior\'s uncertainty, for an agent with no prototypes', () => {
    const e = predictSuccess(emptyProfile(embedder.id, embedder.dim), star)
    expect(e.mean).toBe(DEFAULT_PRIOR.mean)
    expect(e.evidence).toBe(0)
    expect(predictSuccess(emptyProfile(embedder.id, embedder.dim), star, { prior: { mean: 0.7, weight: 4 } }).mean).toBeCloseTo(0.7, 10)
  })

  it('is high near prototypes that went well, and shrinks to the prior far from them', () => {
    const nearEst = predictSuccess(astronomy, star)
    const farEst = predictSuccess(astronomy, contract)
    expect(nearEst.mean).toBeGreaterThan(0.8)
    expect(farEst.mean).toBeLessThan(DEFAULT_PRIOR.mean + 0.05)
    expect(farEst.mean).toBeGreaterThanOrEqual(DEFAULT_PRIOR.mean)
    expect(nearEst.evidence).toBeGreaterThan(farEst.evidence)
    expect(nearEst.variance).toBeLessThan(farEst.variance)
  })

  it('predicts the own agent\'s pooled record far from its prototypes when asked to (the owner\'s queries are its profile\'s distribution)', () => {
    const mixed = buildProfile(embedder.id, embedder.dim, [
      ...Array.from({ length: 40 }, (_, i) => ({ embedding: embedder.embed('telescope galaxy redshift nebula'), outcome: i < 36 ? 1 : 0 })),
      ...Array.from({ length: 40 }, (_, i) => ({ embedding: embedder.embed('supernova star orbit comet'), outcome: i < 28 ? 1 : 0 }))
    ])
    const far = predictSuccess(mixed, contract, { background: 'pooled' })
    expect(far.mean).toBeCloseTo((64 + DEFAULT_PRIOR.mean * DEFAULT_PRIOR.weight) / (80 + DEFAULT_PRIOR.weight), 2)
    expect(predictSuccess(mixed, contract).mean).toBeCloseTo(DEFAULT_PRIOR.mean, 2)
  })

  it('ranks a prototype that went better higher for queries nearest to it', () => {
    const two = buildProfile(embedder.id, embedder.dim, [
      ...Array.from({ length: 40 }, () => ({ embedding: embedder.embed('telescope galaxy redshift nebula'), outcome: 1 })),
      ...Array.from({ length: 40 }, () => ({ embedding: embedder.embed('plaintiff contract tort statute'), outcome: 0 }))
    ], { spawnSimilarity: 0.5 })
    expect(two.prototypes.length).toBe(2)
    expect(predictSuccess(two, star, { shrinkage: 4 }).mean).toBeGreaterThan(predictSuccess(two, contract, { shrinkage: 4 }).mean + 0.3)
  })

  it('is low near prototypes that went badly', () => {
    const poor = profileOf(['telescope galaxy redshift nebula'], 0, 10)
    expect(predictSuccess(poor, star).mean).toBeLessThan(0.3)
  })

  it('weighs evidence by a kernel that grows with similarity and stays within [0, 1]', () => {
    expect(kernelWeight(0.1)).toBeLessThan(kernelWeight(0.4))
    expect(kernelWeight(0.4, { nearSimilarity: 0.4 })).toBeCloseTo(0.5, 10)
    expect(kernelWeight(SCORING_DEFAULTS.backgroundSimilarity)).toBeCloseTo(0.5, 10)
    expect(kernelWeight(1)).toBeLessThanOrEqual(1)
    expect(kernelWeight(-1)).toBeGreaterThanOrEqual(0)
    expect(kernelWeight(-1, { floor: 0.2 })).toBeGreaterThanOrEqual(0.2)
  })
})

describe('observations against advertised claims', () => {
  const set = syntheticQuestionSet(5)
  const bySubject = (s: string): Question[] => set.questions.filter(q => q.subject === s)
  const law = bySubject('law')
  // The liar claims 100 right answers in every subject; the honest peer a modest record in law only.
  const liar = buildProfile(embedder.id, embedder.dim, set.subjects.flatMap(s => bySubject(s).slice(0, 5)).flatMap(q => Array.from({ length: 20 }, () => ({ embedding: embedder.embed(text(q)), outcome: 1 }))))
  const honest = buildProfile(embedder.id, embedder.dim, law.slice(0, 10).map((q, i) => ({ embedding: embedder.embed(text(q)), outcome: i < 8 ? 1 : 0 })))
  const query = embedder.embed(text(law[30]))

  it('takes an advertised profile as a prior of only a few pseudo-observations', () => {
    const claim = scoreCandidate(liar, undefined, query)
    expect(predictSuccess(liar, query).evidence).toBeGreaterThan(50)
    expect(claim.mean).toBeGreaterThan(0.8)
    expect(claim.evidence).toBeLessThanOrEqual(10)
    expect(scoreCandidate(liar, undefined, query, { advertisedCap: 3 }).evidence).toBeLessThanOrEqual(3)
  })

  it('finds out a peer that claims expertise everywhere but answers wrongly, after a handful of answers', () => {
    const seen = new PeerObservations(embedder.id, embedder.dim)
    const wrongs: number[] = []
    for (let n = 0; n < 16; n++) {
      seen.record('liar', embedder.embed(text(law[10 + n])), 0)
      wrongs.push(scoreCandidate(liar, seen.estimate('liar', query), query).mean)
    }
    // Every wrong answer lowers the score; by the twelfth it is below the network prior and below the honest peer.
    for (let i = 1; i < wrongs.length; i++) expect(wrongs[i]).toBeLessThan(wrongs[i - 1])
    expect(wrongs[11]).toBeLessThan(DEFAULT_PRIOR.mean)
    expect(wrongs[11]).toBeLessThan(scoreCandidate(honest, undefined, query).mean)
  })

  it('raises a peer without an advertised profile that answers well', () => {
    const seen = new PeerObservations(embedder.id, embedder.dim)
    const before = scoreCandidate(undefined, seen.estimate('newcomer', query), query)
    for (let n = 0; n < 5; n++) seen.record('newcomer', embedder.embed(text(law[10 + n])), 1)
    const after = scoreCandidate(undefined, seen.estimate('newcomer', query), query)
    expect(before.mean).toBe(DEFAULT_PRIOR.mean)
    expect(after.mean).toBeGreaterThan(0.75)
    expect(after.variance).toBeLessThan(before.variance)
  })

  it('remembers a bounded number of peers and prototypes, forgetting the least recent', () => {
    const seen = new PeerObservations(embedder.id, embedder.dim, { maxPeers: 3, prototypesPerPeer: 2 })
    for (const peer of ['a', 'b', 'c', 'd']) {
      for (const q of set.questions.filter((_, i) => i % 37 === 0)) seen.record(peer, embedder.embed(text(q)), 1)
    }
    expect(seen.size).toBe(3)
    expect(seen.estimate('a', query)).toBeUndefined()
    expect(seen.estimate('d', query)).toBeDefined()
    expect(seen.count('d')).toBe(set.questions.filter((_, i) => i % 37 === 0).length)
    seen.forget('d')
    expect(seen.estimate('d', query)).toBeUndefined()
    expect(seen.size).toBe(2)
  })
})

// The data set when present, and the built-in synthetic workload always.
const routingSets = [loadQuestionSet(), syntheticQuestionSet(1)].filter((s, i, all) => i === 0 || !all[0].synthetic)

describe.each(routingSets.map(set => ({ set, label: set.synthetic ? 'synthetic' : 'MMLU-Redux' })))('routing by subject profiles ($label)', ({ set, label }) => {
  const embedText = queryText(set)
  // Up to 50 training questions per subject (MMLU-Redux has about 93 sound ones; the synthetic set 40).
  const { train, test } = splitBySubject(soundQuestions(set), 0.55, seededRng('scoring-test'))
  const perSubject = 50
  const profiles = set.subjects.map(subject => ({
    subject,
    examples: train.filter(q => q.subject === subject).slice(0, perSubject)
  })).map(({ subject, examples }) => ({
    subject,
    trained: examples.length,
    profile: buildProfile(embedder.id, embedder.dim, examples.map(q => ({ embedding: embedder.embed(embedText(q)), outcome: 1 })))
  }))
  const ranked = test.map(q => {
    const e = embedder.embed(embedText(q))
    const scores = profiles.map(p => ({ subject: p.subject, mean: predictSuccess(p.profile, e).mean }))
    const own = scores.find(s => s.subject === q.subject)?.mean ?? Number.NaN
    const others = scores.filter(s => s.subject !== q.subject).reduce((a, s) => a + s.mean, 0) / (scores.length - 1)
    scores.sort((a, b) => b.mean - a.mean)
    return { q, own, others, rank: scores.findIndex(s => s.subject === q.subject) }
  })

  it('scores a subject\'s held-out questions higher with its own profile than with the others', () => {
    const own = ranked.reduce((a, r) => a + r.own, 0) / ranked.length
    const others = ranked.reduce((a, r) => a + r.others, 0) / ranked.length
    console.log(`[${label}] mean predicted success on held-out questions: own subject ${own.toFixed(3)}, other subjects ${others.toFixed(3)}`)
    expect(own).toBeGreaterThan(others + 0.05)
  })

  it('routes held-out questions to their own subject far above chance', () => {
    const top1 = ranked.filter(r => r.rank === 0).length / ranked.length
    const top3 = ranked.filter(r => r.rank < 3).length / ranked.length
    const chance = 1 / set.subjects.length
    console.log(`[${label}] ${set.subjects.length} subjects, ${(profiles.reduce((n, p) => n + p.trained, 0) / profiles.length).toFixed(1)} train questions each on average, ${test.length} held out: top-1 ${top1.toFixed(3)}, top-3 ${top3.toFixed(3)} (chance ${chance.toFixed(3)})`)
    // Conservative: ten times chance on the real 57 subjects, four times on the 8 synthetic ones.
    expect(top1).toBeGreaterThan(Math.min(10 * chance, 4 * chance + 0.3))
    expect(top3).toBeGreaterThanOrEqual(top1)
  })
})
