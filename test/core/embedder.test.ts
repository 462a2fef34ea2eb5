import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { createHashEmbedder } from '../../src/core/embedder.js'
import { cosine, norm } from '../../src/core/vector.js'

interface Fixture {
  embedder: string
  vectors: Array<{ text: string, first16: number[], norm: number }>
}

const fixture = JSON.parse(readFileSync(new URL('./fixtures/embedder-vectors.json', import.meta.url), 'utf8')) as Fixture

describe('hash embedder', () => {
  const embedder = createHashEmbedder()

  it('names its space after the version and dimension', () => {
    expect(embedder.id).toBe('hash-ngram-v1-d256')
    expect(embedder.dim).toBe(256)
    expect(createHashEmbedder({ dim: 64 }).id).toBe('hash-ngram-v1-d64')
    expect(createHashEmbedder({ dim: 64 }).embed('a galaxy far away')).toHaveLength(64)
  })

  it('reproduces the checked-in vectors of fixed texts', () => {
    expect(fixture.embedder).toBe(embedder.id)
    for (const f of fixture.vectors) {
      const v = embedder.embed(f.text)
      expect(Array.from(v.slice(0, 16), x => Math.round(x * 1e6) / 1e6), f.text).toEqual(f.first16)
      expect(Math.round(norm(v) * 1e6) / 1e6, f.text).toBe(f.norm)
    }
  })

  it('gives the same vector for the same text, and ignores case and punctuation', () => {
    const a = embedder.embed('Which enzyme unwinds DNA?')
    expect(embedder.embed('Which enzyme unwinds DNA?')).toEqual(a)
    expect(embedder.embed('which ENZYME unwinds dna')).toEqual(a)
  })

  it('returns unit vectors, and a zero vector for text of stop words only', () => {
    expect(norm(embedder.embed('The supernova left a neutron star.'))).toBeCloseTo(1, 5)
    expect(norm(embedder.embed('which of the following is'))).toBe(0)
    expect(norm(embedder.embed(''))).toBe(0)
  })

  it('puts texts on one topic closer than texts on different topics', () => {
    const star1 = embedder.embed('The telescope observed the redshift of a distant galaxy')
    const star2 = embedder.embed('Astronomers measure galaxy redshift with a telescope')
    const law = embedder.embed('The plaintiff appealed the verdict on the contract dispute')
    expect(cosine(star1, star2)).toBeGreaterThan(cosine(star1, law) + 0.2)
  })

  it('shares character n-grams between inflections of a word', () => {
    const a = embedder.embed('enzymes')
    expect(cosine(a, embedder.embed('enzyme'))).toBeGreaterThan(0.4)
    expect(cosine(a, embedder.embed('verdict'))).toBeLessThan(0.2)
  })

  it('embeds several thousand short queries per second', () => {
    const texts = Array.from({ length: 2000 }, (_, i) => `what is the derivative of x to the power ${i} times the sine of x`)
    const start = performance.now()
    for (const t of texts) embedder.embed(t)
    const perSecond = texts.length / ((performance.now() - start) / 1000)
    // A loose floor: the test machine is shared; the bench reports the real rate.
    expect(perSecond).toBeGreaterThan(3000)
  })

  it('rejects a dimension it cannot hash into', () => {
    expect(() => createHashEmbedder({ dim: 0 })).toThrow(RangeError)
    expect(() => createHashEmbedder({ dim: 3.5 })).toThrow(RangeError)
  })
})
