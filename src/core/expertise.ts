/**
 * Where an agent is good, from how its owner uses it. A personal agent is
 * tuned to its owner, and its owner asks most about what the agent was tuned
 * for: where the agent's own past queries lie, against everybody's, says more
 * about its expertise than the few right/wrong outcomes near a new query.
 *
 * The expertise feature of a query is how much more likely it is under the
 * agent's past queries than under the corpus of the space (a linear
 * discriminant read from the profile's count-weighted prototypes); a
 * per-agent logistic calibration, centred on the population's, maps it to a
 * success probability. The calibration is fitted on the agent's own examples
 * when its profile is built and updated by every outcome after that (one
 * Newton step with the running information matrix), so a profile keeps
 * learning from feedback, on a node as in the simulator.
 */
import type { Calibration, Profile, Prototype } from './types.js'
import { dotEach } from './vector.js'

/**
 * The corpus of an embedding space, by space id: the prototypes (centroid,
 * count) of every kind of query, and their count-weighted mean. A space that
 * has one ({@link registerReference}) reads a query's fit to a profile
 * against it, so that a topic many people ask about does not look like
 * everybody's expertise.
 */
const references = new Map<string, { counts: Prototype[], mean: Float64Array, meanSq: number }>()

/** Registers the corpus of the space `embedderId` (idempotent for the same space). */
export function registerReference (embedderId: string, prototypes: readonly Prototype[]): void {
  const dim = prototypes[0]?.centroid.length ?? 0
  const mean = new Float64Array(dim)
  let total = 0
  for (const p of prototypes) {
    total += p.count
    for (let i = 0; i < dim; i++) mean[i] += p.count * p.centroid[i]
  }
  let meanSq = 0
  for (let i = 0; i < dim; i++) { mean[i] /= Math.max(1e-12, total); meanSq += mean[i] * mean[i] }
  references.set(embedderId, { counts: prototypes.slice(), mean, meanSq })
}

/** The reference of a space, if registered. */
export function referenceOf (embedderId: string): readonly Prototype[] | undefined {
  return references.get(embedderId)?.counts
}

let lastReference: { space: string, embedding: Float32Array, dot: number } | undefined

/** The corpus mean's dot product with `embedding` in `space` (0 when the space has none); the last query's is remembered. */
function referenceDot (space: string, embedding: Float32Array): number {
  if (lastReference !== undefined && lastReference.embedding === embedding && lastReference.space === space) return lastReference.dot
  const mean = references.get(space)?.mean
  let dot = 0
  if (mean !== undefined && mean.length === embedding.length) for (let i = 0; i < mean.length; i++) dot += mean[i] * embedding[i]
  lastReference = { space, embedding, dot }
  return dot
}

/** Per prototype list: the squared norm of its count-weighted mean, and the prototype count and total count it was computed at. */
const meanNorms = new WeakMap<readonly Prototype[], { total: number, length: number, sq: number }>()
let meanScratch = new Float64Array(128)

/**
 * The total count of `ps` and the squared norm of their count-weighted mean,
 * recomputed when a prototype came or went or the total count moved (every
 * query a learning profile observes moves it).
 */
function meanStats (ps: readonly Prototype[]): { total: number, sq: number } {
  let total = 0
  for (let j = 0; j < ps.length; j++) total += ps[j].count
  const cached = meanNorms.get(ps)
  if (cached !== undefined && cached.length === ps.length && cached.total === total) return cached
  const dim = ps[0]?.centroid.length ?? 0
  if (meanScratch.length < dim) meanScratch = new Float64Array(dim)
  const m = meanScratch
  m.fill(0, 0, dim)
  for (const p of ps) for (let i = 0; i < dim; i++) m[i] += p.count * p.centroid[i]
  let sq = 0
  const inv = 1 / Math.max(1e-12, total)
  for (let i = 0; i < dim; i++) sq += (m[i] * inv) * (m[i] * inv)
  const out = { total, length: ps.length, sq }
  meanNorms.set(ps, out)
  return out
}

/**
 * Ridge prior of a calibration σ(a + b·x): intercept at the logit of `mean`
 * with `precision`, slope `slope` with `slopePrecision`. The centre is the
 * pooled fit of every agent's seed outcomes on the feature in the `paper`
 * world's topic space, on its training split (seed 1;
 * test/core/expertise-prior.test.ts re-fits it):
 * a node starts from the population's mapping and moves with its own evidence.
 */
export const CALIBRATION_PRIOR = { mean: 0.705, slope: 0.089, precision: 20, slopePrecision: 1000 }

/**
 * The expertise feature of a query from its cosines `sims` with the
 * prototypes `ps` (their counts weigh them): the log-likelihood ratio, under
 * isotropic Gaussians of per-dimension variance 1/dim (unit vectors), of the
 * profile's past queries against the corpus of the space,
 * dim·((m − μ)·q − (|m|² − |μ|²)/2), with m the count-weighted mean of the
 * profile's prototypes and μ the corpus's. Linear discriminant analysis of
 * "my queries" against "everybody's": a topic direction, which in a
 * high-dimensional space says far more than the density of a few prototypes.
 * `leaveOut`: the query is one of the profile's own examples, whose one count
 * is taken out of m (it reads as a new query would).
 */
export function expertiseFeatureOf (space: string, embedding: Float32Array, sims: ArrayLike<number>, ps: readonly Prototype[], leaveOut = false): number {
  const stats = meanStats(ps)
  if (stats.total <= 0) return 0
  let mq = 0
  for (let j = 0; j < ps.length; j++) mq += ps[j].count * sims[j]
  mq /= stats.total
  let sq = stats.sq
  if (leaveOut && stats.total > 1) {
    const n = stats.total
    sq = (n * n * sq - 2 * n * mq + 1) / ((n - 1) * (n - 1))
    mq = (n * mq - 1) / (n - 1)
  }
  const ref = references.get(space)
  const muQ = referenceDot(space, embedding)
  return embedding.length * (mq - muQ - (sq - (ref?.meanSq ?? 0)) / 2)
}

let scratch = { sims: new Float64Array(16), centroids: new Array<Float32Array>(16) }

/** The expertise feature of `embedding` under `profile`; `leaveOut`: the query is one of the profile's own examples. */
export function expertiseFeature (profile: Profile, embedding: Float32Array, leaveOut = false): number {
  const ps = profile.prototypes
  const k = ps.length
  if (scratch.sims.length < k) scratch = { sims: new Float64Array(2 * k), centroids: new Array<Float32Array>(2 * k) }
  const { sims, centroids } = scratch
  for (let j = 0; j < k; j++) centroids[j] = ps[j].centroid
  dotEach(centroids, k, embedding, sims)
  return expertiseFeatureOf(profile.embedderId, embedding, sims, ps, leaveOut)
}

function logit (p: number): number {
  return Math.log(p / (1 - p))
}

/** The logistic function: a calibration's success from its linear predictor. */
export function sigmoid (z: number): number {
  return 1 / (1 + Math.exp(-z))
}

/** A calibration that knows nothing yet: the prior. */
export function priorCalibration (): Calibration {
  return { a: logit(CALIBRATION_PRIOR.mean), b: CALIBRATION_PRIOR.slope, haa: CALIBRATION_PRIOR.precision, hab: 0, hbb: CALIBRATION_PRIOR.slopePrecision }
}

/** Learns from one outcome `y` in [0, 1] at feature `x`: one Newton step with the accumulated information. Mutates `c`. */
export function updateCalibration (c: Calibration, x: number, y: number): void {
  const p = sigmoid(c.a + c.b * x)
  const w = p * (1 - p)
  c.haa += w
  c.hab += w * x
  c.hbb += w * x * x
  const g = y - p
  const det = c.haa * c.hbb - c.hab * c.hab
  if (!(det > 0)) return
  c.a += (c.hbb * g - c.hab * g * x) / det
  c.b += (c.haa * g * x - c.hab * g) / det
}

/** The maximum a posteriori calibration of outcomes `ys` at features `xs` under the ridge prior (Newton's method). */
export function fitCalibration (xs: ArrayLike<number>, ys: ArrayLike<number>, n = xs.length): Calibration {
  const prior = priorCalibration()
  const la = CALIBRATION_PRIOR.precision
  const lb = CALIBRATION_PRIOR.slopePrecision
  let a = prior.a
  let b = prior.b
  let haa = la
  let hab = 0
  let hbb = lb
  for (let it = 0; it < 30; it++) {
    let ga = -la * (a - prior.a)
    let gb = -lb * (b - prior.b)
    haa = la
    hab = 0
    hbb = lb
    for (let i = 0; i < n; i++) {
      const x = xs[i]
      const p = sigmoid(a + b * x)
      const w = p * (1 - p)
      ga += ys[i] - p
      gb += (ys[i] - p) * x
      haa += w
      hab += w * x
      hbb += w * x * x
    }
    const det = haa * hbb - hab * hab
    if (!(det > 0)) break
    const da = (hbb * ga - hab * gb) / det
    const db = (haa * gb - hab * ga) / det
    a += da
    b += db
    if (Math.abs(da) + Math.abs(db) < 1e-10) break
  }
  return { a, b, haa, hab, hbb }
}

/**
 * The calibrated success at feature `x`: its mean, the variance of the mean
 * (delta method over the calibration's uncertainty) and the evidence, in
 * pseudo-observations, that the outcomes added to the prior's.
 */
export function calibratedEstimate (c: Calibration, x: number): { mean: number, variance: number, evidence: number } {
  const mean = sigmoid(c.a + c.b * x)
  const det = c.haa * c.hbb - c.hab * c.hab
  const { precision: la, slopePrecision: lb } = CALIBRATION_PRIOR
  // Variance of the linear predictor: [1 x] H⁻¹ [1 x]ᵀ, and the prior's alone.
  const v0 = 1 / la + x * x / lb
  const v = det > 0 ? (c.hbb - 2 * c.hab * x + c.haa * x * x) / det : v0
  const w = Math.max(1e-9, mean * (1 - mean))
  const variance = w * w * v
  const evidence = Math.max(0, 1 / (w * v) - 1 / (w * v0))
  return { mean, variance, evidence }
}

/**
 * The calibrated predictor of `profile` as one linear form of the query: its
 * success is σ(w·q + c), exactly {@link calibratedSuccess}'s mean, since the
 * feature is linear in q (see {@link expertiseFeatureOf}): with b the
 * calibration's slope and d the dimension, w = b·d·(m − μ) and
 * c = a − b·d·(|m|² − |μ|²)/2. Undefined when the profile does not predict by
 * density. Lets a node score every such profile it knows with one dot product
 * each (`core/density-scores.ts`).
 */
export function densityForm (profile: Profile): { w: Float64Array, c: number } | undefined {
  const cal = profile.calibration
  const ref = references.get(profile.embedderId)
  if (cal === undefined || ref === undefined || !predictsByDensity(profile)) return undefined
  const ps = profile.prototypes
  const d = profile.dim
  const { total, sq } = meanStats(ps)
  const w = new Float64Array(d)
  if (total <= 0) return { w, c: cal.a }
  for (const p of ps) for (let i = 0; i < d; i++) w[i] += p.count * p.centroid[i]
  const scale = cal.b * d
  for (let i = 0; i < d; i++) w[i] = scale * (w[i] / total - (ref.mean.length === d ? ref.mean[i] : 0))
  return { w, c: cal.a - scale * (sq - ref.meanSq) / 2 }
}

/**
 * The calibrated success of `profile` on a query, given the query's cosines
 * `sims` with its prototypes; undefined when the profile has no calibration or
 * its space no corpus density (the caller's Beta mixture predicts then). The
 * one test of when density predicts, for scoring and retrieval alike.
 */
export function calibratedSuccess (profile: Profile, embedding: Float32Array, sims: ArrayLike<number>): { mean: number, variance: number, evidence: number } | undefined {
  const c = profile.calibration
  if (c === undefined || !predictsByDensity(profile)) return undefined
  return calibratedEstimate(c, expertiseFeatureOf(profile.embedderId, embedding, sims, profile.prototypes))
}

/** Whether `profile` predicts by its calibrated density feature (a calibration, prototypes, and a space with a corpus reference) rather than by its Beta mixture. */
export function predictsByDensity (profile: Profile): boolean {
  return profile.calibration !== undefined && profile.prototypes.length > 0 && references.has(profile.embedderId)
}
