/**
 * A fitted embedding space that needs no model: latent semantic analysis.
 * Words (stop words dropped, a light plural stem) are weighed by how much they
 * say (IDF over a corpus, sublinear term frequency), and the centred TF-IDF
 * document vectors of that corpus are reduced to their top `dim` principal
 * directions (a randomised SVD). A query is embedded by folding its TF-IDF
 * vector into those directions. Words that co-occur end up near each other,
 * so two questions of one topic are near even when they share few words.
 *
 * The space is data: fitted once on a corpus (a benchmark fits it on its
 * training split only), written with {@link encodeLsaSpace}, and named by a
 * hash of its contents, so that a network binds one space and never mixes two.
 */
import { fmix32, hashSlice, tokenize } from './embedder.js'
import { registerReference } from './expertise.js'
import { buildProfile } from './prototypes.js'
import { orthonormalizeColumns, symmetricEigen } from './linalg.js'
import { gaussian, seededRng } from './rng.js'
import type { Embedder, Prototype } from './types.js'

/** A fitted space: per known word its IDF and its row of the basis. */
export interface LsaSpace {
  dim: number
  /** Word hashes (see {@link wordCounts}), one per row, ascending. */
  words: Uint32Array
  idf: Float32Array
  /** rows × dim, row-major: a word's direction in the space. */
  basis: Float32Array
  /** The corpus mean's coordinates, subtracted from every folded query (dim). */
  offset: Float32Array
  /** How the space was made (corpus, split, seed), carried in the file. */
  source: string
  /** The corpus's density: prototypes (centroid, count) of the fitting documents (see expertise.ts). */
  reference: Prototype[]
}

/** How {@link fitLsaSpace} fits. */
export interface LsaFitOptions {
  /** Dimensions kept (default 128). */
  dim?: number
  /** Features in fewer documents than this are dropped (default 2; 1 for a topic space, whose labels keep a rare word from being noise). */
  minDf?: number
  /** Seed of the randomised SVD's test matrix (default 1). */
  seed?: number
  /** Power iterations of the randomised SVD (default 3). */
  powerIterations?: number
  /** Describes the corpus, stored with the space. */
  source?: string
  /** Prototypes of the corpus's density (default 64). */
  referencePrototypes?: number
  /**
   * The topic label of each text (e.g. its subject). With them the space is
   * supervised, one dimension per topic and no SVD (see `topicFit`).
   */
  labels?: readonly string[]
  /**
   * How a labelled space is fitted. `logistic` (default): a multinomial
   * logistic regression of the label on the TF-IDF vector, so that a query's
   * coordinates are its topic log-odds (up to a constant); words that tell
   * topics apart weigh most. `centroid`: the topics' unit TF-IDF centroids,
   * so that a query's coordinates are its cosines with every topic.
   * Fitted on the paper world's training split (MMLU-Redux, seed 1: 1,602
   * questions, 57 subjects) and measured on the 3,728 questions it asks:
   * subject top-1 0.608, domain top-1 0.711, own-agent AUC 0.927 with words and
   * word pairs (0.595, 0.690, 0.914 with words only; centroids 0.577, 0.674, 0.909) (`npm run bench:core`).
   */
  topicFit?: 'logistic' | 'centroid'
  /** The logistic fit's L2 penalty per unit document (default 1e-4). */
  l2?: number
  /** The logistic fit's full-batch gradient steps (default 300). */
  fitIterations?: number
}

const SEED_WORD = 0x3c6ef372

/** English plural and third-person `s`, dropped from longer words (`electrons` → `electron`, not `class`, `virus`, `analysis`). */
function stemEnd (lower: string, s: number, e: number): number {
  if (e - s > 4 && lower.charCodeAt(e - 1) === 115) {
    const prev = lower.charCodeAt(e - 2)
    if (prev !== 115 && prev !== 117 && prev !== 105) return e - 1
  }
  return e
}

/**
 * The features of `text` as hashes with their counts: its words and each pair
 * of consecutive words (stop words between them dropped), so that "public key"
 * or "blood pressure" says more than either of its words.
 */
export function wordCounts (text: string): Map<number, number> {
  const lower = text.toLowerCase()
  const spans = tokenize(lower)
  const out = new Map<number, number>()
  let previous = -1
  for (let t = 0; t < spans.length; t += 2) {
    const s = spans[t]
    const e = stemEnd(lower, s, spans[t + 1])
    if (e - s < 2) continue
    const h = fmix32(hashSlice(lower, s, e, SEED_WORD, false, false))
    out.set(h, (out.get(h) ?? 0) + 1)
    if (previous >= 0) {
      const pair = fmix32((previous ^ Math.imul(h, 0x9e3779b1)) >>> 0)
      out.set(pair, (out.get(pair) ?? 0) + 1)
    }
    previous = h
  }
  return out
}

/** A document's L2-normalised TF-IDF over the known words: rows and weights. */
function tfidf (counts: Map<number, number>, rowOf: (word: number) => number, idf: ArrayLike<number>): { rows: number[], weights: number[] } {
  const rows: number[] = []
  const weights: number[] = []
  let sq = 0
  for (const [word, tf] of counts) {
    const r = rowOf(word)
    if (r < 0) continue
    const w = (1 + Math.log(tf)) * idf[r]
    rows.push(r)
    weights.push(w)
    sq += w * w
  }
  if (sq > 0) {
    const inv = 1 / Math.sqrt(sq)
    for (let i = 0; i < weights.length; i++) weights[i] *= inv
  }
  return { rows, weights }
}

/**
 * Fits a space on `texts` (the corpus: e.g. a benchmark's training questions
 * with their options). Deterministic: the same texts and options give the
 * same space, bit for bit.
 */
export function fitLsaSpace (texts: readonly string[], opts: LsaFitOptions = {}): LsaSpace {
  const minDf = opts.minDf ?? (opts.labels !== undefined ? 1 : 2)
  const docsCounts = texts.map(wordCounts)
  const df = new Map<number, number>()
  for (const c of docsCounts) for (const w of c.keys()) df.set(w, (df.get(w) ?? 0) + 1)
  const words = Uint32Array.from([...df].filter(([, n]) => n >= minDf).map(([w]) => w)).sort()
  const m = words.length
  const n = texts.length
  const dim = Math.min(opts.dim ?? 128, Math.max(1, Math.min(m, n) - 1))
  if (m < 2 || n < 2) throw new RangeError(`an LSA space needs at least 2 documents and 2 words in 2 documents; got ${n} documents, ${m} words`)
  const rowIndex = new Map<number, number>()
  words.forEach((w, i) => rowIndex.set(w, i))
  const idf = new Float32Array(m)
  for (let i = 0; i < m; i++) idf[i] = Math.log((1 + n) / (1 + (df.get(words[i]) ?? 0))) + 1
  const docs = docsCounts.map(c => tfidf(c, w => rowIndex.get(w) ?? -1, idf))
  const mean = new Float64Array(m)
  for (const d of docs) for (let i = 0; i < d.rows.length; i++) mean[d.rows[i]] += d.weights[i] / n

  /** The space of `basis` (m × d): its offset (the corpus mean's coordinates) and the corpus's density. */
  const finish = (basis: Float32Array, d: number): LsaSpace => {
    const offset = new Float32Array(d)
    for (let k = 0; k < d; k++) {
      let s = 0
      for (let r = 0; r < m; r++) s += mean[r] * basis[r * d + k]
      offset[k] = s
    }
    const space: LsaSpace = { dim: d, words, idf, basis, offset, source: opts.source ?? `${n} documents`, reference: [] }
    // The corpus's density, from the documents folded in as queries are.
    const fold = foldWith(space)
    const reference = buildProfile('reference', d, texts.map(t => ({ embedding: fold(t) })), { maxPrototypes: opts.referencePrototypes ?? 64 })
    space.reference = reference.prototypes.map(p => ({ centroid: p.centroid, count: p.count, alpha: 1, beta: 1 }))
    return space
  }
  if (opts.labels !== undefined) {
    if (opts.labels.length !== n) throw new RangeError(`a topic space needs one label per document; got ${opts.labels.length} for ${n}`)
    const { basis, topics } = (opts.topicFit ?? 'logistic') === 'logistic'
      ? logisticTopicBasis(docs, opts.labels, m, opts.l2 ?? 1e-4, opts.fitIterations ?? 300)
      : topicBasis(docs, opts.labels, m)
    return finish(basis, topics)
  }
  const l = Math.min(dim + 10, Math.min(m, n))
  const rng = seededRng(`lsa|${opts.seed ?? 1}`)
  // Z (m × l): the test matrix, then Xcᵀ Q after each power iteration.
  let z: Float64Array = new Float64Array(m * l)
  for (let i = 0; i < z.length; i++) z[i] = gaussian(rng)
  let q: Float64Array
  const iterations = opts.powerIterations ?? 3
  for (let it = 0; ; it++) {
    q = timesCentred(docs, mean, z, n, l)
    orthonormalizeColumns(q, n, l)
    z = transposeTimesCentred(docs, mean, q, m, l)
    if (it >= iterations) break
  }
  // z = Bᵀ with B = Qᵀ Xc; B Bᵀ = zᵀ z (l × l).
  const gram = new Float64Array(l * l)
  for (let r = 0; r < m; r++) {
    const o = r * l
    for (let i = 0; i < l; i++) {
      const zi = z[o + i]
      if (zi === 0) continue
      for (let j = i; j < l; j++) gram[i * l + j] += zi * z[o + j]
    }
  }
  for (let i = 0; i < l; i++) for (let j = 0; j < i; j++) gram[i * l + j] = gram[j * l + i]
  const { values, vectors } = symmetricEigen(gram, l)
  // V = Bᵀ W Σ⁻¹: the right singular vectors, the top `dim` of them.
  const basis = new Float32Array(m * dim)
  const scale = new Float64Array(dim)
  for (let k = 0; k < dim; k++) scale[k] = values[k] > 1e-18 ? 1 / Math.sqrt(values[k]) : 0
  for (let r = 0; r < m; r++) {
    for (let k = 0; k < dim; k++) {
      let s = 0
      for (let j = 0; j < l; j++) s += z[r * l + j] * vectors[j * l + k]
      basis[r * dim + k] = s * scale[k]
    }
  }
  return finish(basis, dim)
}

/**
 * The basis of a topic space: per topic (label, in sorted order) the unit
 * centroid of its documents' TF-IDF vectors, as the columns of an m × topics matrix.
 */
function topicBasis (docs: readonly SparseDoc[], labels: readonly string[], m: number): { basis: Float32Array, topics: number } {
  const names = [...new Set(labels)].sort()
  const column = new Map(names.map((l, k) => [l, k]))
  const t = names.length
  const sums = new Float64Array(m * t)
  docs.forEach((d, i) => {
    const k = column.get(labels[i]) as number
    for (let j = 0; j < d.rows.length; j++) sums[d.rows[j] * t + k] += d.weights[j]
  })
  const basis = new Float32Array(m * t)
  for (let k = 0; k < t; k++) {
    let sq = 0
    for (let r = 0; r < m; r++) sq += sums[r * t + k] * sums[r * t + k]
    const inv = sq > 0 ? 1 / Math.sqrt(sq) : 0
    for (let r = 0; r < m; r++) basis[r * t + k] = sums[r * t + k] * inv
  }
  return { basis, topics: t }
}

/**
 * The basis of a discriminative topic space: multinomial logistic regression of
 * the label on the TF-IDF vector (L2 penalty `l2`, Nesterov-accelerated
 * gradient descent from zero, `iterations` full-batch steps: deterministic),
 * each word's row centred across topics (softmax's shift invariance removed),
 * so that a query's coordinates are its topic log-odds up to a constant.
 * `collapse` (default): features of one document only are fitted as one (see
 * {@link collapseSingletons}); false fits every feature on its own (the same
 * fit up to rounding, kept to test that).
 */
export function logisticTopicBasis (docs: readonly SparseDoc[], labels: readonly string[], m: number, l2: number, iterations: number, collapse = true): { basis: Float32Array, topics: number } {
  const names = [...new Set(labels)].sort()
  const column = new Map(names.map((l, k) => [l, k]))
  const t = names.length
  const fit = collapse ? collapseSingletons(docs, m) : { docs, columns: m, col: Int32Array.from({ length: m }, (_, r) => r), scale: new Float64Array(m).fill(1) }
  const w = fitLogistic(fit.docs, labels.map(l => column.get(l) as number), fit.columns, t, l2, iterations)
  const basis = new Float32Array(m * t)
  const row = new Float64Array(t)
  for (let r = 0; r < m; r++) {
    const o = fit.col[r] * t
    let mean = 0
    for (let k = 0; k < t; k++) { row[k] = fit.scale[r] * w[o + k]; mean += row[k] / t }
    for (let k = 0; k < t; k++) basis[r * t + k] = row[k] - mean
  }
  return { basis, topics: t }
}

/**
 * The features found in one document only (most word pairs, many rare words)
 * get the same gradient, the document's residual times their weight, at every
 * step from zero: each stays its weight times one vector of the document. So
 * they are fitted as one feature per document, of weight √(Σ x²), and expanded
 * after: the same fit with a fraction of the work.
 */
function collapseSingletons (docs: readonly SparseDoc[], m: number): { docs: SparseDoc[], columns: number, col: Int32Array, scale: Float64Array } {
  const df = new Int32Array(m)
  for (const d of docs) for (const r of d.rows) df[r]++
  // Per feature: the column it is fitted in and its share of that column's weight.
  const col = new Int32Array(m)
  const scale = new Float64Array(m)
  let columns = 0
  for (let r = 0; r < m; r++) if (df[r] > 1) { col[r] = columns++; scale[r] = 1 }
  const out = docs.map(d => {
    const rows: number[] = []
    const weights: number[] = []
    const singles: number[] = []
    let sq = 0
    for (let i = 0; i < d.rows.length; i++) {
      if (df[d.rows[i]] > 1) {
        rows.push(col[d.rows[i]])
        weights.push(d.weights[i])
      } else {
        singles.push(i)
        sq += d.weights[i] * d.weights[i]
      }
    }
    if (sq > 0) {
      const norm = Math.sqrt(sq)
      for (const i of singles) { col[d.rows[i]] = columns; scale[d.rows[i]] = d.weights[i] / norm }
      rows.push(columns++)
      weights.push(norm)
    }
    return { rows, weights }
  })
  return { docs: out, columns, col, scale }
}

/**
 * Multinomial logistic regression of `y` on sparse rows (`m` features, `t`
 * classes): L2 penalty `l2` per unit document, Nesterov-accelerated gradient
 * descent from zero, `iterations` full-batch steps. The weights, m × t row-major.
 */
function fitLogistic (docs: readonly SparseDoc[], y: readonly number[], m: number, t: number, l2: number, iterations: number): Float64Array {
  const n = docs.length
  // w: the iterate; look: the extrapolated point the gradient is taken at (zero at the start, as w).
  const w = new Float64Array(m * t)
  const look = new Float64Array(m * t)
  const grad = new Float64Array(m * t)
  const bias = new Float64Array(t)
  const gb = new Float64Array(t)
  const z = new Float64Array(t)
  // Step 1/L: the loss's curvature is at most 1/2 per unit document, the penalty's l2.
  const step = 1 / (0.5 + l2)
  for (let it = 0; it < iterations; it++) {
    gb.fill(0)
    for (let d = 0; d < n; d++) {
      const { rows, weights } = docs[d]
      for (let k = 0; k < t; k++) z[k] = bias[k]
      for (let i = 0; i < rows.length; i++) {
        const o = rows[i] * t
        const x = weights[i]
        for (let k = 0; k < t; k++) z[k] += x * look[o + k]
      }
      let mx = -Infinity
      for (let k = 0; k < t; k++) if (z[k] > mx) mx = z[k]
      let sum = 0
      for (let k = 0; k < t; k++) { z[k] = Math.exp(z[k] - mx); sum += z[k] }
      for (let k = 0; k < t; k++) z[k] = z[k] / sum - (k === y[d] ? 1 : 0)
      for (let k = 0; k < t; k++) gb[k] += z[k] / n
      for (let i = 0; i < rows.length; i++) {
        const o = rows[i] * t
        const x = weights[i] / n
        for (let k = 0; k < t; k++) grad[o + k] += x * z[k]
      }
    }
    // One pass: the step from `look`, the next extrapolation (momentum (it + 1)/(it + 4)), the gradient cleared.
    const mom = (it + 1) / (it + 4)
    for (let i = 0; i < look.length; i++) {
      const next = look[i] - step * (grad[i] + l2 * look[i])
      look[i] = next + mom * (next - w[i])
      w[i] = next
      grad[i] = 0
    }
    for (let k = 0; k < t; k++) bias[k] -= step * gb[k]
  }
  return w
}

/** A document as its features' rows and weights. */
export type SparseDoc = { rows: number[], weights: number[] }

/** (X − 1 μᵀ) Z for sparse rows X (n × m), Z (m × l): n × l. */
function timesCentred (docs: readonly SparseDoc[], mean: Float64Array, z: Float64Array, n: number, l: number): Float64Array {
  const out = new Float64Array(n * l)
  const muZ = new Float64Array(l)
  for (let r = 0; r < mean.length; r++) {
    const mr = mean[r]
    if (mr === 0) continue
    for (let j = 0; j < l; j++) muZ[j] += mr * z[r * l + j]
  }
  for (let d = 0; d < n; d++) {
    const { rows, weights } = docs[d]
    const o = d * l
    for (let i = 0; i < rows.length; i++) {
      const w = weights[i]
      const zr = rows[i] * l
      for (let j = 0; j < l; j++) out[o + j] += w * z[zr + j]
    }
    for (let j = 0; j < l; j++) out[o + j] -= muZ[j]
  }
  return out
}

/** (X − 1 μᵀ)ᵀ Q for sparse rows X (n × m), Q (n × l): m × l. */
function transposeTimesCentred (docs: readonly SparseDoc[], mean: Float64Array, q: Float64Array, m: number, l: number): Float64Array {
  const out = new Float64Array(m * l)
  const colSum = new Float64Array(l)
  for (let d = 0; d < docs.length; d++) {
    const { rows, weights } = docs[d]
    const o = d * l
    for (let j = 0; j < l; j++) colSum[j] += q[o + j]
    for (let i = 0; i < rows.length; i++) {
      const w = weights[i]
      const r = rows[i] * l
      for (let j = 0; j < l; j++) out[r + j] += w * q[o + j]
    }
  }
  for (let r = 0; r < m; r++) {
    const mr = mean[r]
    if (mr === 0) continue
    for (let j = 0; j < l; j++) out[r * l + j] -= mr * colSum[j]
  }
  return out
}

/** The id of a space: its dimension and a hash of everything that defines it. */
export function lsaSpaceId (space: LsaSpace): string {
  let h = 0x811c9dc5
  const mix = (bytes: Uint8Array): void => {
    for (let i = 0; i < bytes.length; i++) { h ^= bytes[i]; h = Math.imul(h, 0x01000193) }
  }
  for (const a of [space.words, space.idf, space.offset, space.basis, ...space.reference.map(p => p.centroid), Float32Array.from(space.reference.map(p => p.count))]) mix(new Uint8Array(a.buffer, a.byteOffset, a.byteLength))
  return `lsa-v2-d${space.dim}-${(h >>> 0).toString(16).padStart(8, '0')}`
}

/**
 * The embedder of a fitted space: `lsa-v2-d<dim>-<hash>`. Registers the
 * space's corpus density, by which profiles in it read density (expertise.ts).
 */
export function createLsaEmbedder (space: LsaSpace): Embedder {
  const id = lsaSpaceId(space)
  registerReference(id, space.reference)
  return { id, dim: space.dim, embed: foldWith(space) }
}

/** Folds a text into the space: its TF-IDF over the known words, projected, centred, unit length. */
function foldWith (space: LsaSpace): (text: string) => Float32Array {
  const { dim, words, idf, basis, offset } = space
  const rowIndex = new Map<number, number>()
  words.forEach((w, i) => rowIndex.set(w, i))
  const rowOf = (w: number): number => rowIndex.get(w) ?? -1
  return function embed (text: string): Float32Array {
    const { rows, weights } = tfidf(wordCounts(text), rowOf, idf)
    const out = new Float32Array(dim)
    if (rows.length === 0) return out
    const acc = new Float64Array(dim)
    for (let i = 0; i < rows.length; i++) {
      const w = weights[i]
      const o = rows[i] * dim
      for (let k = 0; k < dim; k++) acc[k] += w * basis[o + k]
    }
    let sq = 0
    for (let k = 0; k < dim; k++) {
      acc[k] -= offset[k]
      sq += acc[k] * acc[k]
    }
    const inv = sq > 0 ? 1 / Math.sqrt(sq) : 0
    for (let k = 0; k < dim; k++) out[k] = acc[k] * inv
    return out
  }
}

const MAGIC = 'PPAILSA3'

/** The space as bytes: a header (magic, dim, rows, source) and its arrays, little-endian. */
export function encodeLsaSpace (space: LsaSpace): Uint8Array {
  const source = new TextEncoder().encode(space.source)
  const m = space.words.length
  const head = 8 + 12 + Math.ceil(source.length / 4) * 4
  const r = space.reference.length
  const bytes = new Uint8Array(head + 4 * (m + m + space.dim + m * space.dim) + 4 + 4 * r * (1 + space.dim))
  const view = new DataView(bytes.buffer)
  bytes.set(new TextEncoder().encode(MAGIC), 0)
  view.setUint32(8, space.dim, true)
  view.setUint32(12, m, true)
  view.setUint32(16, source.length, true)
  bytes.set(source, 20)
  let o = head
  for (const a of [space.words, space.idf, space.offset, space.basis]) {
    for (let i = 0; i < a.length; i++, o += 4) {
      if (a instanceof Uint32Array) view.setUint32(o, a[i], true)
      else view.setFloat32(o, a[i], true)
    }
  }
  view.setUint32(o, r, true)
  o += 4
  for (const p of space.reference) {
    view.setFloat32(o, p.count, true)
    o += 4
    for (let k = 0; k < space.dim; k++, o += 4) view.setFloat32(o, p.centroid[k], true)
  }
  return bytes
}

/** Reads {@link encodeLsaSpace}'s bytes; throws RangeError saying what is wrong. */
export function decodeLsaSpace (bytes: Uint8Array): LsaSpace {
  if (bytes.length < 20 || new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC) throw new RangeError(`not an LSA space (no ${MAGIC} header)`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const dim = view.getUint32(8, true)
  const m = view.getUint32(12, true)
  const sourceLength = view.getUint32(16, true)
  const head = 8 + 12 + Math.ceil(sourceLength / 4) * 4
  const arrays = head + 4 * (m + m + dim + m * dim)
  const r = bytes.length >= arrays + 4 ? view.getUint32(arrays, true) : -1
  if (dim < 1 || dim > 4096 || m < 2 || r < 0 || r > 4096 || bytes.length !== arrays + 4 + 4 * r * (1 + dim)) throw new RangeError(`a corrupt LSA space: ${bytes.length} bytes for ${m} words in ${dim} dimensions`)
  const source = new TextDecoder().decode(bytes.subarray(20, 20 + sourceLength))
  let o = head
  const words = new Uint32Array(m)
  for (let i = 0; i < m; i++, o += 4) words[i] = view.getUint32(o, true)
  const floats = (count: number): Float32Array => {
    const a = new Float32Array(count)
    for (let i = 0; i < count; i++, o += 4) a[i] = view.getFloat32(o, true)
    return a
  }
  const idf = floats(m)
  const offset = floats(dim)
  const basis = floats(m * dim)
  o += 4
  const reference: Prototype[] = []
  for (let i = 0; i < r; i++) {
    const count = floats(1)[0]
    reference.push({ centroid: floats(dim), count, alpha: 1, beta: 1 })
  }
  for (const a of [idf, offset, basis, ...reference.map(p => p.centroid)]) for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) throw new RangeError('a corrupt LSA space: a value is not finite')
  if (reference.some(p => !(p.count >= 0))) throw new RangeError('a corrupt LSA space: a negative reference count')
  return { dim, words, idf, basis, offset, source, reference }
}
