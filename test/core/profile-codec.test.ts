import { describe, expect, it } from 'vitest'
import { createHashEmbedder } from '../../src/core/embedder.js'
import { decodeProfile, encodeProfile, ProfileCodecError, type ProfileCodecErrorCode } from '../../src/core/profile-codec.js'
import { buildProfile } from '../../src/core/prototypes.js'
import type { Profile } from '../../src/core/types.js'
import { dot } from '../../src/core/vector.js'

const embedder = createHashEmbedder()
const TOPICS = ['galaxy redshift telescope', 'enzyme protein membrane', 'contract tort plaintiff', 'inflation monetary fiscal',
  'integral derivative series', 'empire treaty dynasty', 'patient diagnosis therapy', 'molecule catalyst oxidation']

/** A full profile: 8 prototypes in 256 dimensions. */
function fullProfile (): Profile {
  const examples = TOPICS.flatMap((t, i) => [0, 1, 2].map(n => ({ embedding: embedder.embed(`${t} question ${n} ${i}`), outcome: (n + i) % 2 })))
  return buildProfile(embedder.id, embedder.dim, examples)
}

function codeOf (fn: () => unknown): ProfileCodecErrorCode | undefined {
  try {
    fn()
  } catch (e) {
    if (e instanceof ProfileCodecError) return e.code
    throw e
  }
  return undefined
}

describe('profile codec', () => {
  const profile = fullProfile()
  const bytes = encodeProfile(profile)

  it('fits a profile of 8 prototypes in 256 dimensions in 4 KB', () => {
    expect(profile.prototypes).toHaveLength(8)
    expect(bytes.length).toBeLessThanOrEqual(4096)
  })

  it('round-trips ids, counts and Betas exactly, and centroids to within int8 quantisation', () => {
    const back = decodeProfile(bytes)
    expect(back.embedderId).toBe(profile.embedderId)
    expect(back.dim).toBe(profile.dim)
    expect(back.version).toBe(profile.version)
    expect(back.prototypes).toHaveLength(profile.prototypes.length)
    back.prototypes.forEach((p, i) => {
      const orig = profile.prototypes[i]
      expect(p.count).toBe(orig.count)
      expect(p.alpha).toBe(orig.alpha)
      expect(p.beta).toBe(orig.beta)
      expect(dot(p.centroid, orig.centroid)).toBeGreaterThan(0.999)
    })
  })

  it('decodes from a view into a larger buffer', () => {
    const padded = new Uint8Array(bytes.length + 10)
    padded.set(bytes, 5)
    expect(decodeProfile(padded.subarray(5, 5 + bytes.length)).prototypes).toHaveLength(8)
  })

  it('encodes an empty profile', () => {
    const back = decodeProfile(encodeProfile({ embedderId: 'x', dim: 4, version: 0, prototypes: [] }))
    expect(back).toEqual({ embedderId: 'x', dim: 4, version: 0, prototypes: [] })
  })

  it('rejects bad magic', () => {
    const b = bytes.slice()
    b[0] = 0
    expect(codeOf(() => decodeProfile(b))).toBe('BAD_MAGIC')
  })

  it('rejects an unknown format version', () => {
    const b = bytes.slice()
    b[4] = 3
    expect(codeOf(() => decodeProfile(b))).toBe('BAD_VERSION')
  })

  it('rejects truncated input, in the header and in the body', () => {
    expect(codeOf(() => decodeProfile(bytes.subarray(0, 2)))).toBe('TRUNCATED')
    expect(codeOf(() => decodeProfile(bytes.subarray(0, 10)))).toBe('TRUNCATED')
    expect(codeOf(() => decodeProfile(bytes.subarray(0, bytes.length - 1)))).toBe('TRUNCATED')
  })

  it('rejects trailing bytes', () => {
    const b = new Uint8Array(bytes.length + 1)
    b.set(bytes)
    expect(codeOf(() => decodeProfile(b))).toBe('TRAILING_BYTES')
  })

  it('rejects a zero or oversized dimension and too many prototypes', () => {
    const zero = bytes.slice()
    new DataView(zero.buffer).setUint16(6, 0, true)
    expect(codeOf(() => decodeProfile(zero))).toBe('BAD_DIMS')
    const huge = bytes.slice()
    new DataView(huge.buffer).setUint16(6, 60000, true)
    expect(codeOf(() => decodeProfile(huge))).toBe('BAD_DIMS')
    const many = bytes.slice()
    new DataView(many.buffer).setUint16(8, 1000, true)
    expect(codeOf(() => decodeProfile(many))).toBe('BAD_DIMS')
    expect(codeOf(() => encodeProfile({ ...profile, dim: 0 }))).toBe('BAD_DIMS')
  })

  it('rejects an empty or non-UTF-8 embedder id', () => {
    expect(codeOf(() => encodeProfile({ ...profile, embedderId: '' }))).toBe('BAD_EMBEDDER_ID')
    const b = bytes.slice()
    b[15] = 0xff
    expect(codeOf(() => decodeProfile(b))).toBe('BAD_EMBEDDER_ID')
  })

  it('rejects non-finite numbers, on encode and on decode', () => {
    const nanAlpha = bytes.slice()
    const firstProto = 15 + profile.embedderId.length
    new DataView(nanAlpha.buffer).setFloat32(firstProto + 4, Number.NaN, true)
    expect(codeOf(() => decodeProfile(nanAlpha))).toBe('NON_FINITE')
    const infScale = bytes.slice()
    new DataView(infScale.buffer).setFloat32(firstProto + 12, Number.POSITIVE_INFINITY, true)
    expect(codeOf(() => decodeProfile(infScale))).toBe('NON_FINITE')
    const bad = { ...profile, prototypes: profile.prototypes.map((p, i) => i === 0 ? { ...p, centroid: p.centroid.map((x, j) => j === 0 ? Number.NaN : x) } : p) }
    expect(codeOf(() => encodeProfile(bad))).toBe('NON_FINITE')
  })

  it('rejects negative evidence and a negative scale', () => {
    const firstProto = 15 + profile.embedderId.length
    const negBeta = bytes.slice()
    new DataView(negBeta.buffer).setFloat32(firstProto + 8, -1, true)
    expect(codeOf(() => decodeProfile(negBeta))).toBe('NEGATIVE_EVIDENCE')
    const negScale = bytes.slice()
    new DataView(negScale.buffer).setFloat32(firstProto + 12, -0.01, true)
    expect(codeOf(() => decodeProfile(negScale))).toBe('BAD_SCALE')
  })
})

describe('profile codec: the density calibration (format 2)', () => {
  it('carries a calibration through the wire and rejects one that is not positive definite', () => {
    const p = { embedderId: 'lsa-test', dim: 4, version: 3, prototypes: [{ centroid: new Float32Array([1, 0, 0, 0]), count: 5, alpha: 4, beta: 2 }], calibration: { a: 0.5, b: 1.25, haa: 30, hab: -4, hbb: 12 } }
    const back = decodeProfile(encodeProfile(p))
    expect(back.calibration).toEqual(p.calibration)
    expect(back.prototypes[0].count).toBe(5)
    const bad = encodeProfile({ ...p, calibration: { ...p.calibration, haa: -1 } })
    expect(codeOf(() => decodeProfile(bad))).toBe('NEGATIVE_EVIDENCE')
  })
})
