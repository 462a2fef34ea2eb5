/**
 * Where an agent is good, from how its owner uses it. A personal agent is
 * tuned to its owner, and its owner asks most about what the agent was tuned
 * for: the density of the agent's own past queries near a new query says more
 * about its expertise there than the few right/wrong outcomes near it.
 *
 * The density feature of a query is the (log) share of the agent's past
 * queries that a broad kernel puts near it, read from the profile's
 * prototypes (count-weighted); a per-agent logistic calibration maps it to a
 * success probability. The calibration is fitted on the agent's own examples
 * when its profile is built and updated by every outcome after that (one
 * Newton step with the running information matrix), so a profile keeps
 * learning from feedback, on a node as in the simulator.
 */
import type { Calibration, Profile, Prototype } from './types.js'
import { dotEach } from './vector.js'

/**
 * Concentration of the density kernel, exp(κ·(cos − 1)): broad, so that a
 * topic's prototypes all lend a query their mass (chosen on training-split
 * questions: see test/core/calibration.test.ts).
 */
export const DENSITY_CONCENTRATION = 5
/** The smallest density share the feature tells apart: a query far from every prototype reads as this. */
export const DENSITY_FLOOR = 0.003
/** Without a reference density the feature is centred here, so that the intercept and slope are nearly independent. */
const FEATURE_CENTRE = -3

/**
 * The density of the whole corpus in an embedding space (prototypes of every
 * kind of query), by space id: a space that has one ({@link registerReference})
 * reads a query's density under a profile relative to it, so that a topic
 * many people ask about does not look like everybody's expertise.
 */
const references = new Map<string, { centroids: Float32Array[], counts: Prototype[] }>()

/** Registers the corpus density of the space `embedderId` (idempotent for the same space). */
export function registerReference (embedderId: string, prototypes: readonly Prototype[]): void {
  references.set(embedderId, { centroids: prototypes.map(p => p.centroid), counts: prototypes.slice() })
}

/** The reference of a space, if registered. */
export function referenceOf (embedderId: string): readonly Prototype[] | undefined {
  return references.get(embedderId)?.counts
}

let lastReference: { space: string, embedding: Float32Array, logShare: number } | undefined
let referenceSims = new Float64Array(64)

/** log of the corpus's density share near `embedding` in `space` (FEATURE_CENTRE when the space has no reference); the last query's is remembered. */
function referenceLogShare (space: string, embedding: Float32Array): number {
  if (lastReference !== undefined && lastReference.embedding === embedding && lastReference.space === space) return lastReference.logShare
  const ref = references.get(space)
  let logShare = FEATURE_CENTRE
  if (ref !== undefined) {
    const k = ref.centroids.length
    if (referenceSims.length < k) referenceSims = new Float64Array(k)
    dotEach(ref.centroids, k, embedding, referenceSims)
    logShare = logDensityShare(referenceSims, ref.counts, -1)
  }
  lastReference = { space, embedding, logShare }
  return logShare
}
/** Ridge prior of a calibration: intercept at the logit of `mean`, slope `slope`, with `precision` on each. */
export const CALIBRATION_PRIOR = { mean: 0.6, slope: 0, precision: 1 }

/**
 * The density feature from the cosines `sims` of a query with the prototypes
 * `ps` (their counts weigh them). `own`: the index of a prototype that holds
 * the query itself, whose one count is left out (a profile's own examples
 * read as a new query would: leave-one-out), or -1.
 */
export function densityFeatureOf (space: string, embedding: Float32Array, sims: ArrayLike<number>, ps: readonly Prototype[], own = -1): number {
  return logDensityShare(sims, ps, own) - referenceLogShare(space, embedding)
}

function logDensityShare (sims: ArrayLike<number>, ps: readonly Prototype[], own: number): number {
  let mass = 0
  let total = 0
  for (let j = 0; j < ps.length; j++) {
    const n = ps[j].count
    mass += n * Math.exp(DENSITY_CONCENTRATION * (sims[j] - 1))
    total += n
  }
  if (own >= 0 && total > 1) {
    mass = Math.max(0, mass - Math.exp(DENSITY_CONCENTRATION * (sims[own] - 1)))
    total -= 1
  }
  const share = total > 0 ? mass / total : 0
  return Math.log(share > DENSITY_FLOOR ? share : DENSITY_FLOOR)
}

let scratch = { sims: new Float64Array(16), centroids: new Array<Float32Array>(16) }

/** The density feature of `embedding` under `profile` (log share of its past queries near it, centred); `leaveOut`: the query is one of the profile's own, in its nearest prototype. */
export function densityFeature (profile: Profile, embedding: Float32Array, leaveOut = false): number {
  const ps = profile.prototypes
  const k = ps.length
  if (scratch.sims.length < k) scratch = { sims: new Float64Array(2 * k), centroids: new Array<Float32Array>(2 * k) }
  const { sims, centroids } = scratch
  for (let j = 0; j < k; j++) centroids[j] = ps[j].centroid
  dotEach(centroids, k, embedding, sims)
  let own = -1
  if (leaveOut) for (let j = 0; j < k; j++) if (own < 0 || sims[j] > sims[own]) own = j
  return densityFeatureOf(profile.embedderId, embedding, sims, ps, own)
}

function logit (p: number): number {
  return Math.log(p / (1 - p))
}

function sigmoid (z: number): number {
  return 1 / (1 + Math.exp(-z))
}

/** A calibration that knows nothing yet: the prior. */
export function priorCalibration (): Calibration {
  const lam = CALIBRATION_PRIOR.precision
  return { a: logit(CALIBRATION_PRIOR.mean), b: CALIBRATION_PRIOR.slope, haa: lam, hab: 0, hbb: lam }
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
  const lam = CALIBRATION_PRIOR.precision
  let a = prior.a
  let b = prior.b
  let haa = lam
  let hab = 0
  let hbb = lam
  for (let it = 0; it < 30; it++) {
    let ga = -lam * (a - prior.a)
    let gb = -lam * (b - prior.b)
    haa = lam
    hab = 0
    hbb = lam
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
  const lam = CALIBRATION_PRIOR.precision
  // Variance of the linear predictor: [1 x] H⁻¹ [1 x]ᵀ, and the prior's alone.
  const v = det > 0 ? (c.hbb - 2 * c.hab * x + c.haa * x * x) / det : 1 / lam + x * x / lam
  const v0 = (1 + x * x) / lam
  const w = Math.max(1e-9, mean * (1 - mean))
  const variance = w * w * v
  const evidence = Math.max(0, 1 / (w * v) - 1 / (w * v0))
  return { mean, variance, evidence }
}

/**
 * The calibrated success of `profile` on a query, given the query's cosines
 * `sims` with its prototypes; undefined when the profile has no calibration or
 * its space no corpus density (the caller's Beta mixture predicts then). The
 * one test of when density predicts, for scoring and retrieval alike.
 */
export function calibratedSuccess (profile: Profile, embedding: Float32Array, sims: ArrayLike<number>): { mean: number, variance: number, evidence: number } | undefined {
  const c = profile.calibration
  if (c === undefined || profile.prototypes.length === 0 || !references.has(profile.embedderId)) return undefined
  return calibratedEstimate(c, densityFeatureOf(profile.embedderId, embedding, sims, profile.prototypes))
}
