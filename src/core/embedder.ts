/**
 * The default embedder, which needs no model: deterministic feature hashing of
 * word unigrams, word bigrams and character n-grams into `dim` signed buckets,
 * sublinear term frequency, L2 norm. Only integer hashing (FNV-1a, then a
 * murmur3 finaliser) and IEEE arithmetic in a fixed order, so the same text
 * gives the same vector on every machine.
 */
import type { Embedder } from './types.js'

/** Options of {@link createHashEmbedder}. Changing any of them changes the space; the id names the ones that define it. */
export interface HashEmbedderOptions {
  /** Number of dimensions (default 256). */
  dim?: number
}

/** The feature weights of version 1 (picked on one MMLU train/test split: bigrams collide a lot in 256 dims, so they weigh little). Fixed: changing them needs a new embedder id. */
const UNIGRAM_WEIGHT = 1
const BIGRAM_WEIGHT = 0.15
const CHAR_WEIGHT = 0.5
const CHAR_NGRAM_MIN = 3
const CHAR_NGRAM_MAX = 5
/** Words shorter than this get no character n-grams (they are their own unigram). */
const CHAR_MIN_WORD = 4

/**
 * 1 + ln(tf) for tf = 1..16 as literals: decimal literals parse to the same
 * double in every engine, while Math.log may differ in the last bit between
 * engines. Longer texts (tf > 16) fall back to Math.log.
 */
const SUBLINEAR_TF = [0, 1.0, 1.6931471805599454, 2.09861228866811, 2.386294361119891, 2.6094379124341005, 2.791759469228055, 2.9459101490553135,
  3.0794415416798357, 3.1972245773362196, 3.302585092994046, 3.3978952727983707, 3.4849066497880004, 3.5649493574615367, 3.6390573296152584,
  3.70805020110221, 3.772588722239781]

const SEED_UNIGRAM = 0x811c9dc5
const SEED_BIGRAM = 0x2b9a1e37
const SEED_CHAR = 0x5bd1e995

/** Frequent English function words: they say nothing about a query's domain. */
export const STOP_WORDS: ReadonlySet<string> = new Set((
  'a about above after again against all also am an and any are as at be because been before being below between both but by ' +
  'can could did do does doing down during each either few for from further had has have having he her here hers herself him ' +
  'himself his how however i if in into is it its itself just least let may me might more most much must my myself no nor not ' +
  'now of off on once one only or other our ours ourselves out over own same shall she should so some such than that the their ' +
  'theirs them themselves then there these they this those through to too under until up upon us very was we were what when ' +
  'where whether which while who whom whose why will with would yet you your yours yourself following statement statements ' +
  'true false best describes correct answer question given following likely'
).split(' '))

/** FNV-1a over a slice of `text`, optionally between virtual `^`/`$` word boundary marks. */
export function hashSlice (text: string, start: number, end: number, seed: number, openMark: boolean, closeMark: boolean): number {
  let h = seed >>> 0
  if (openMark) { h ^= 0x5e; h = Math.imul(h, 0x01000193) }
  for (let i = start; i < end; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  if (closeMark) { h ^= 0x24; h = Math.imul(h, 0x01000193) }
  return h >>> 0
}

/** murmur3's 32-bit finaliser: spreads FNV's weak low bits over the index and the sign. */
export function fmix32 (x: number): number {
  let h = x >>> 0
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

function isWordChar (c: number): boolean {
  // ASCII letters and digits after lowercasing, and every non-ASCII letter-like code unit.
  return (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c > 127
}

function count (map: Map<number, number>, key: number): void {
  map.set(key, (map.get(key) ?? 0) + 1)
}

/** Tokens of lowercased text as [start, end) pairs, stop words dropped. */
export function tokenize (lower: string): number[] {
  const spans: number[] = []
  let i = 0
  const n = lower.length
  while (i < n) {
    while (i < n && !isWordChar(lower.charCodeAt(i))) i++
    const start = i
    while (i < n && isWordChar(lower.charCodeAt(i))) i++
    if (i > start) {
      const len = i - start
      // Stop words are short; only slice the candidates.
      if (len <= 10 && STOP_WORDS.has(lower.slice(start, i))) continue
      spans.push(start, i)
    }
  }
  return spans
}

/**
 * The default embedder: `hash-ngram-v1-d<dim>`. About 50 features per short
 * query, each hashed to one signed dimension with weight `w * (1 + ln tf)`.
 */
export function createHashEmbedder (opts: HashEmbedderOptions = {}): Embedder {
  const dim = opts.dim ?? 256
  if (!Number.isInteger(dim) || dim < 8 || dim > 65536) throw new RangeError(`embedder dim must be an integer in [8, 65536], got ${dim}`)
  const id = `hash-ngram-v1-d${dim}`
  const pow2 = (dim & (dim - 1)) === 0

  function add (vec: Float32Array, features: Map<number, number>, weight: number): void {
    for (const [h, tf] of features) {
      const m = fmix32(h)
      const index = pow2 ? (m & (dim - 1)) : (m % dim)
      const sign = (m >>> 31) === 1 ? -1 : 1
      vec[index] += sign * weight * (tf < SUBLINEAR_TF.length ? SUBLINEAR_TF[tf] : 1 + Math.log(tf))
    }
  }

  function embed (text: string): Float32Array {
    const lower = text.toLowerCase()
    const spans = tokenize(lower)
    const unigrams = new Map<number, number>()
    const bigrams = new Map<number, number>()
    const chars = new Map<number, number>()
    let prev = -1
    for (let t = 0; t < spans.length; t += 2) {
      const s = spans[t]
      const e = spans[t + 1]
      const u = hashSlice(lower, s, e, SEED_UNIGRAM, false, false)
      count(unigrams, u)
      if (prev >= 0) count(bigrams, hashSlice(lower, s, e, (Math.imul(prev, 0x9e3779b1) ^ SEED_BIGRAM) >>> 0, false, false))
      prev = u
      const len = e - s
      if (len >= CHAR_MIN_WORD) {
        // n-grams of `^word$`: positions -1 .. len-n+1 of the marked word.
        for (let n = CHAR_NGRAM_MIN; n <= CHAR_NGRAM_MAX; n++) {
          for (let p = -1; p + n <= len + 1; p++) {
            const open = p === -1
            const close = p + n === len + 1
            const from = s + (open ? 0 : p)
            const to = s + p + n - (close ? 1 : 0)
            count(chars, hashSlice(lower, from, to, (SEED_CHAR + n) >>> 0, open, close))
          }
        }
      }
    }
    const vec = new Float32Array(dim)
    add(vec, unigrams, UNIGRAM_WEIGHT)
    add(vec, bigrams, BIGRAM_WEIGHT)
    add(vec, chars, CHAR_WEIGHT)
    let sq = 0
    for (let i = 0; i < dim; i++) sq += vec[i] * vec[i]
    if (sq > 0) {
      const inv = 1 / Math.sqrt(sq)
      for (let i = 0; i < dim; i++) vec[i] *= inv
    }
    return vec
  }

  return { id, dim, embed }
}
