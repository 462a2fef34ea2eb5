/**
 * Online prototypes (ARCHITECTURE.md §3): an agent's expertise as at most K
 * `(centroid, count, Beta(α, β))` triples. Each observed query moves its
 * nearest prototype toward it and updates that prototype's Beta; a query far
 * from all of them spawns a new one; over the cap the two closest merge.
 * Deterministic: no randomness is needed.
 */
import { expertiseFeature, expertiseFeatureOf, fitCalibration, priorCalibration, referenceOf, updateCalibration } from './expertise.js'
import type { Profile, Prototype } from './types.js'
import { dot, dotEach, normalize } from './vector.js'

/** How a profile learns. */
export interface ProfileOptions {
  /** Cap on the number of prototypes, K (default 8). */
  maxPrototypes?: number
  /** A query whose cosine with every prototype is below this spawns a new one (default 0.35). */
  spawnSimilarity?: number
  /** Beta prior of a new prototype (default 1, 1: uniform). */
  priorAlpha?: number
  priorBeta?: number
  /**
   * Floor on the step a centroid moves toward a new query. 0 (default) keeps
   * the centroid the exact running mean; a small floor lets it follow drift.
   */
  minLearningRate?: number
  /**
   * Whether outcomes also fit the profile's density calibration (in a space with a corpus reference; default true).
   * A profile that is only ever read by its Beta evidence (a node's observations of a peer) does without.
   */
  calibrate?: boolean
}

const DEFAULTS = { maxPrototypes: 8, spawnSimilarity: 0.35, priorAlpha: 1, priorBeta: 1, minLearningRate: 0, calibrate: true }

type Resolved = Readonly<typeof DEFAULTS>

/** Options resolved, by options object: a learner passes the same object with every query (a few such objects per process). */
const resolvedOptions = new WeakMap<ProfileOptions, Resolved>()
const RESOLVED_DEFAULTS: Resolved = Object.freeze({ ...DEFAULTS })

function resolve (opts: ProfileOptions | undefined): Resolved {
  if (opts === undefined) return RESOLVED_DEFAULTS
  let resolved = resolvedOptions.get(opts)
  if (resolved === undefined) {
    resolved = Object.freeze({ ...DEFAULTS, ...stripUndefined(opts) })
    resolvedOptions.set(opts, resolved)
  }
  return resolved
}

function stripUndefined<T extends object> (o: T | undefined): Partial<T> {
  const out: Partial<T> = {}
  if (o == null) return out
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v
  return out
}

/** A profile with no prototypes yet. */
export function emptyProfile (embedderId: string, dim: number): Profile {
  return { embedderId, dim, version: 0, prototypes: [] }
}

/** Index and cosine of the prototype nearest to a unit `embedding`; -1 when there is none. */
export function nearestPrototype (profile: Profile, embedding: Float32Array): { index: number, similarity: number } {
  const ps = profile.prototypes
  const index = nearestOf(centroidsOf(ps), embedding)
  return { index, similarity: index < 0 ? -Infinity : scratch(ps.length)[index] }
}

/** Index of the centroid nearest to `embedding` (the first on ties), -1 when there is none; leaves every cosine in the scratch. */
function nearestOf (centroids: Float32Array[], embedding: Float32Array): number {
  const sims = scratch(centroids.length)
  dotEach(centroids, centroids.length, embedding, sims)
  let index = -1
  let similarity = -Infinity
  for (let i = 0; i < centroids.length; i++) {
    if (sims[i] > similarity) { similarity = sims[i]; index = i }
  }
  return index
}

function centroidsOf (ps: Prototype[]): Float32Array[] {
  const out = new Array<Float32Array>(ps.length)
  for (let i = 0; i < ps.length; i++) out[i] = ps[i].centroid
  return out
}

/** Scratch cosines, reused: a profile holds a handful of prototypes and is learned on one thread. */
let sharedSims = new Float64Array(16)

function scratch (n: number): Float64Array {
  if (sharedSims.length < n) sharedSims = new Float64Array(2 * n)
  return sharedSims
}

/** The Beta mean of a prototype: its estimated success rate. */
export function prototypeQuality (p: Prototype): number {
  return p.alpha / (p.alpha + p.beta)
}

function checkOutcome (outcome: number | undefined): void {
  if (outcome !== undefined && !(outcome >= 0 && outcome <= 1)) throw new RangeError(`outcome must be in [0, 1], got ${outcome}`)
}

/**
 * Learns from one query (`embedding`, unit length, of the profile's dim) and,
 * when known, how well it went (`outcome` in [0, 1], e.g. 1 right, 0 wrong).
 * Mutates `profile` and bumps its version. `opts` are read once per options
 * object (a learner passes the same one with every query): pass another
 * object to change them.
 */
export function observe (profile: Profile, embedding: Float32Array, outcome?: number, opts?: ProfileOptions): void {
  checkInput(profile, embedding, outcome)
  learn(profile, embedding, outcome, resolve(opts), undefined)
}

function checkInput (profile: Profile, embedding: Float32Array, outcome: number | undefined): void {
  if (embedding.length !== profile.dim) throw new RangeError(`embedding has ${embedding.length} dims, profile ${profile.dim}`)
  checkOutcome(outcome)
}

/** {@link observe}'s work, with resolved options and, while a profile is being built, the cosines between its prototypes. */
function learn (profile: Profile, embedding: Float32Array, outcome: number | undefined, o: Resolved, pairs: PairCosines | undefined): void {
  const ps = profile.prototypes
  const index = nearestOf(centroidsOf(ps), embedding)
  // The cosines nearestOf left in the scratch.
  const sims = scratch(ps.length)
  const similarity = index < 0 ? -Infinity : sims[index]
  if (outcome !== undefined && o.calibrate && referenceOf(profile.embedderId) !== undefined) {
    // The calibration learns where the query fell before the profile moves toward it (in a space with a corpus density).
    profile.calibration ??= priorCalibration()
    updateCalibration(profile.calibration, expertiseFeatureOf(profile.embedderId, embedding, sims, ps), outcome)
  }
  if (index < 0 || similarity < o.spawnSimilarity) {
    ps.push({
      centroid: Float32Array.from(embedding),
      count: 1,
      alpha: o.priorAlpha + (outcome ?? 0),
      beta: o.priorBeta + (outcome === undefined ? 0 : 1 - outcome)
    })
    // The new centroid is the embedding: its cosines with the others are the ones just computed.
    pairs?.spawned(sims, ps.length - 1)
    if (ps.length > o.maxPrototypes) merge(profile, o, pairs)
  } else {
    const p = ps[index]
    const rate = Math.max(1 / (p.count + 1), o.minLearningRate)
    // Running mean of unit vectors, renormalised: the centroid is the direction of its queries' average.
    const c = p.centroid
    for (let i = 0; i < c.length; i++) c[i] += (embedding[i] - c[i]) * rate
    normalize(c)
    pairs?.moved(index)
    p.count += 1
    if (outcome !== undefined) { p.alpha += outcome; p.beta += 1 - outcome }
  }
  profile.version += 1
}

/**
 * The cosines between the prototypes of a profile being built, kept in step
 * with its list: a merge reads every pair, and between two merges only the
 * spawned, moved and merged prototypes change. The same values as computing
 * every pair afresh, bit for bit (dot is symmetric).
 */
class PairCosines {
  private readonly rows: number[][] = []
  private readonly stale: boolean[] = []

  /** Prototype `m` was appended; `sims[i]` is its cosine with prototype i < m. */
  spawned (sims: Float64Array, m: number): void {
    const row: number[] = []
    for (let i = 0; i < m; i++) {
      this.rows[i][m] = sims[i]
      row.push(sims[i])
    }
    row.push(1)
    this.rows[m] = row
    this.stale[m] = false
  }

  /** Prototype `i`'s centroid changed. */
  moved (i: number): void {
    this.stale[i] = true
  }

  /** Prototype `bj` was removed and `bi` replaced by their merge. */
  merged (bi: number, bj: number): void {
    this.rows.splice(bj, 1)
    for (const r of this.rows) r.splice(bj, 1)
    this.stale.splice(bj, 1)
    this.stale[bi] = true
  }

  /** `cos[i][j]` for the current prototypes. */
  current (ps: Prototype[]): number[][] {
    let cs: Float32Array[] | undefined
    for (let i = 0; i < ps.length; i++) {
      if (!this.stale[i]) continue
      cs ??= centroidsOf(ps)
      const sims = scratch(ps.length)
      dotEach(cs, ps.length, cs[i], sims)
      for (let j = 0; j < ps.length; j++) {
        if (j === i) continue
        this.rows[i][j] = sims[j]
        this.rows[j][i] = sims[j]
      }
      this.stale[i] = false
    }
    return this.rows
  }
}

/** Merges the two prototypes that Ward's criterion picks into one (count-weighted centroid, pooled Beta evidence). */
export function mergeClosest (profile: Profile, opts?: ProfileOptions): void {
  merge(profile, resolve(opts), undefined)
}

function merge (profile: Profile, o: Resolved, pairs: PairCosines | undefined): void {
  const ps = profile.prototypes
  if (ps.length < 2) return
  let bi = 0
  let bj = 1
  let best = -Infinity
  // Ward's criterion: the pair whose merge adds the least within-cluster spread, n·m/(n+m)·(1 − cos).
  // Merging merely the most similar centroids snowballs: a merged centroid drifts toward the direction
  // common to all queries, becomes the nearest to every new one, and swallows the profile.
  // While a profile is built its pair cosines are kept in step; a learning profile computes each pair as it goes (dot is symmetric, bit for bit).
  const cos = pairs?.current(ps)
  for (let i = 0; i < ps.length; i++) {
    for (let j = i + 1; j < ps.length; j++) {
      const ni = ps[i].count
      const nj = ps[j].count
      const s = -(ni * nj / (ni + nj)) * (1 - (cos !== undefined ? cos[i][j] : dot(ps[i].centroid, ps[j].centroid)))
      if (s > best) { best = s; bi = i; bj = j }
    }
  }
  const a = ps[bi]
  const b = ps[bj]
  const n = a.count + b.count
  // Into the first one's centroid, which leaves the profile with it (centroids are the profile's own and move in place as it learns).
  const c = a.centroid
  for (let i = 0; i < c.length; i++) c[i] = (a.centroid[i] * a.count + b.centroid[i] * b.count) / n
  normalize(c)
  // Both carry the prior once; the merged one carries it once too.
  const merged: Prototype = {
    centroid: c,
    count: n,
    alpha: Math.max(o.priorAlpha, a.alpha + b.alpha - o.priorAlpha),
    beta: Math.max(o.priorBeta, a.beta + b.beta - o.priorBeta)
  }
  ps.splice(bj, 1)
  ps[bi] = merged
  pairs?.merged(bi, bj)
}

/** Options of {@link buildProfile}. */
export interface BuildOptions extends ProfileOptions {
  /** Rounds of k-means refinement after the online pass, which is order-sensitive (default 3). */
  refineRounds?: number
}

/**
 * A profile from examples (e.g. a training split with recorded outcomes):
 * one online pass, then a few k-means rounds that reassign every example to
 * its nearest centroid and recompute centroids, counts and Betas from them.
 */
export function buildProfile (embedderId: string, dim: number, examples: Array<{ embedding: Float32Array, outcome?: number }>, opts?: BuildOptions): Profile {
  const o = resolve(opts)
  const rounds = opts?.refineRounds ?? 3
  const profile = emptyProfile(embedderId, dim)
  const pairs = new PairCosines()
  for (const ex of examples) {
    checkInput(profile, ex.embedding, ex.outcome)
    learn(profile, ex.embedding, ex.outcome, o, pairs)
  }
  let previous: Int32Array | undefined
  for (let r = 0; r < rounds && profile.prototypes.length > 1; r++) {
    const k = profile.prototypes.length
    const sums = Array.from({ length: k }, () => new Float32Array(dim))
    const counts = new Array<number>(k).fill(0)
    const wins = new Array<number>(k).fill(0)
    const losses = new Array<number>(k).fill(0)
    const assignment = new Int32Array(examples.length)
    const cs = centroidsOf(profile.prototypes)
    examples.forEach((ex, n) => { assignment[n] = nearestOf(cs, ex.embedding) })
    // The same assignment as the last round would rebuild the same prototypes: converged.
    if (previous != null && previous.every((x, n) => x === assignment[n])) break
    previous = assignment
    for (let n = 0; n < examples.length; n++) {
      const ex = examples[n]
      const index = assignment[n]
      const s = sums[index]
      for (let i = 0; i < dim; i++) s[i] += ex.embedding[i]
      counts[index] += 1
      if (ex.outcome !== undefined) { wins[index] += ex.outcome; losses[index] += 1 - ex.outcome }
    }
    const next: Prototype[] = []
    for (let i = 0; i < k; i++) {
      if (counts[i] === 0) continue
      next.push({ centroid: normalize(sums[i]), count: counts[i], alpha: o.priorAlpha + wins[i], beta: o.priorBeta + losses[i] })
    }
    profile.prototypes = next
  }
  // The calibration of the final prototypes, fitted on every example with an outcome at once (in a space with a corpus density).
  const calibrated = referenceOf(embedderId) !== undefined
  const xs: number[] = []
  const ys: number[] = []
  for (const ex of examples) {
    if (ex.outcome === undefined || !calibrated) continue
    // Each example as a new query would see it: without its own count.
    xs.push(expertiseFeature(profile, ex.embedding, true))
    ys.push(ex.outcome)
  }
  if (xs.length > 0) profile.calibration = fitCalibration(xs, ys)
  profile.version = Math.max(1, profile.version)
  return profile
}
