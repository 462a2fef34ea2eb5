/**
 * Scoring a query–agent pair (ARCHITECTURE.md §4): the predicted success of an agent on
 * a query from its prototypes, what this node itself observed of a peer, and
 * the two combined so that observations outweigh advertised claims.
 */
import { calibratedSuccess } from './expertise.js'
import { observe, emptyProfile, type ProfileOptions } from './prototypes.js'
import type { Profile, SuccessEstimate } from './types.js'
import { dot, dotEach } from './vector.js'

/** A Beta prior written as a mean and a weight in pseudo-observations. */
export interface SuccessPrior {
  mean: number
  weight: number
}

/**
 * How an agent's prototypes predict its success on a query (see
 * {@link predictSuccess}). The defaults were chosen by cross-validation on a
 * TRAINING split only (`test/core/calibration.test.ts` prints the figures):
 * the Brier score of personalised agents' predicted vs recorded correctness
 * on training questions held out of their profiles.
 */
export interface ScoringOptions {
  /** The network prior: an agent with no evidence scores its mean; it also regularises an agent's pooled record (default mean 0.5, weight 2). */
  prior?: SuccessPrior
  /**
   * Concentration κ of the von Mises–Fisher-like assignment of a query to an
   * agent's prototypes: responsibility ∝ (n + 1)·exp(κ·cos). A cosine gap of
   * 1/κ is odds of e:1, whatever the absolute level of cosines (default 25).
   */
  concentration?: number
  /** Pseudo-observations with which each prototype's rate is shrunk toward the agent's pooled rate (default 8). */
  shrinkage?: number
  /**
   * Cosine of the background component: "none of the prototypes covers this
   * query". It predicts the agent's pooled rate and adds no evidence, so a
   * query far from every prototype gets the pooled rate with a large variance (default 0.2).
   */
  backgroundSimilarity?: number
  /**
   * What the background predicts. `'prior'` (default): the network prior, for
   * a peer's profile, which summarises ITS owner's queries, not ours; `'pooled'`:
   * the agent's pooled rate, for the own agent, whose profile was learned from
   * the very distribution the query comes from.
   */
  background?: 'prior' | 'pooled'
  /** Beta prior every prototype started from, subtracted to get its evidence (default 1, 1 as in prototypes.ts). */
  prototypePrior?: { alpha: number, beta: number }
  /** Retrieval's pre-ranking kernel only ({@link kernelWeight}): cosine at which a prototype counts half (default `backgroundSimilarity`). */
  nearSimilarity?: number
  /** Retrieval's pre-ranking kernel only: temperature (default 1 / `concentration`). */
  temperature?: number
  /** Retrieval's pre-ranking kernel only: share of evidence that counts however far (default 0). */
  floor?: number
  /** Unused since the mixture predictor (every prototype takes part); kept for callers that pass it. */
  neighbours?: number
}

/** The defaults of {@link ScoringOptions}. */
export const SCORING_DEFAULTS = { concentration: 60, shrinkage: 64, backgroundSimilarity: 0.45 } as const

/**
 * The network prior when none is given: what a peer is expected to do on a
 * query its profile does not cover (cross-validated on a training split: 0.6,
 * the level of the small local models most agents run outside their owner's subjects).
 */
export const DEFAULT_PRIOR: SuccessPrior = { mean: 0.6, weight: 2 }

/** Evidence pooled from the prototypes near a query: kernel-weighted successes and failures, prior not included. */
export interface KernelEvidence {
  successes: number
  failures: number
}

/**
 * A logistic kernel weight of a prototype at cosine `similarity`, in [0, 1]:
 * used by candidate retrieval to pre-rank agents cheaply and by
 * {@link PeerObservations}; {@link predictSuccess} uses the relative mixture instead.
 */
export function kernelWeight (similarity: number, opts?: ScoringOptions): number {
  // Defaults follow the mixture: a single prototype's share against the background is this logistic.
  const near = opts?.nearSimilarity ?? opts?.backgroundSimilarity ?? SCORING_DEFAULTS.backgroundSimilarity
  const t = opts?.temperature ?? 1 / (opts?.concentration ?? SCORING_DEFAULTS.concentration)
  const floor = opts?.floor ?? 0
  // A logistic, not a capped exponential: strictly increasing, so nearer still ranks higher once evidence is plentiful.
  return floor + (1 - floor) / (1 + Math.exp((near - similarity) / t))
}

/** Kernel-weighted pseudo-counts of every prototype of `profile` (logistic kernel). */
export function kernelEvidence (profile: Profile, embedding: Float32Array, opts?: ScoringOptions): KernelEvidence {
  const a0 = opts?.prototypePrior?.alpha ?? 1
  const b0 = opts?.prototypePrior?.beta ?? 1
  let successes = 0
  let failures = 0
  for (const p of profile.prototypes) {
    const w = kernelWeight(dot(p.centroid, embedding), opts)
    successes += w * Math.max(0, p.alpha - a0)
    failures += w * Math.max(0, p.beta - b0)
  }
  return { successes, failures }
}

/** A Beta posterior from a prior and pooled evidence. */
export function posterior (prior: SuccessPrior, successes: number, failures: number): SuccessEstimate {
  const a = prior.mean * prior.weight + successes
  const b = (1 - prior.mean) * prior.weight + failures
  const n = a + b
  if (n <= 0) return { mean: prior.mean, variance: 0.25, evidence: 0 }
  const mean = a / n
  return { mean, variance: (a * b) / (n * n * (n + 1)), evidence: successes + failures }
}

/**
 * The mixture predictor over one agent's prototypes, given each prototype's
 * cosine to the query and its evidence (successes, failures; prototype prior
 * already removed). Shared by {@link predictSuccess} and candidate retrieval
 * so that both score alike.
 *
 * - The agent's pooled rate m₀ (all its evidence, under the network prior) is
 *   what it is known to do in general.
 * - Each prototype's rate is shrunk toward m₀ by `shrinkage` pseudo-observations:
 *   a small cluster's few answers say less than the agent's whole record.
 * - The query is assigned softly: responsibility ∝ (n + 1)·exp(κ·cos), plus a
 *   background component at `backgroundSimilarity` predicting m₀. Relative
 *   cosines decide, not an absolute threshold that the hashing embedder's low
 *   cosines rarely reach.
 */
export function mixtureEstimate (sims: ArrayLike<number>, wins: ArrayLike<number>, losses: ArrayLike<number>, opts?: ScoringOptions, count = sims.length): SuccessEstimate {
  const prior = opts?.prior ?? DEFAULT_PRIOR
  const kappa = opts?.concentration ?? SCORING_DEFAULTS.concentration
  const tau = opts?.shrinkage ?? SCORING_DEFAULTS.shrinkage
  const c0 = opts?.backgroundSimilarity ?? SCORING_DEFAULTS.backgroundSimilarity
  const k = count
  let S = 0
  let F = 0
  let top = c0
  for (let j = 0; j < k; j++) {
    S += wins[j]
    F += losses[j]
    if (sims[j] > top) top = sims[j]
  }
  if (S + F <= 0) return posterior(prior, 0, 0)
  const m0 = (S + prior.mean * prior.weight) / (S + F + prior.weight)
  // Background: weight as one prototype holding the prior's pseudo-observations.
  let z = (prior.weight + 1) * Math.exp(kappa * (c0 - top))
  let mean = z * (opts?.background === 'pooled' ? m0 : prior.mean)
  let evidence = 0
  for (let j = 0; j < k; j++) {
    const n = wins[j] + losses[j]
    const r = (n + 1) * Math.exp(kappa * (sims[j] - top))
    z += r
    mean += r * (wins[j] + tau * m0) / (n + tau)
    evidence += r * n
  }
  mean /= z
  evidence /= z
  // A Beta of the mixture's mean with the evidence near the query and the prior's weight: far from every prototype, the prior's uncertainty.
  const weight = evidence + prior.weight
  return { mean, variance: mean * (1 - mean) / (weight + 1), evidence }
}

/**
 * Predicted success of the agent with `profile` on a query with `embedding`
 * ({@link mixtureEstimate} over all its prototypes): the rate of the
 * prototypes the query falls into, shrunk toward the agent's pooled rate; an
 * agent with no evidence scores the network prior with its large variance.
 */
export function predictSuccess (profile: Profile, embedding: Float32Array, opts?: ScoringOptions): SuccessEstimate {
  const a0 = opts?.prototypePrior?.alpha ?? 1
  const b0 = opts?.prototypePrior?.beta ?? 1
  const ps = profile.prototypes
  const k = ps.length
  if (predictScratch.sims.length < k) predictScratch = scratchOf(k)
  const { sims, wins, losses, centroids } = predictScratch
  for (let j = 0; j < k; j++) {
    centroids[j] = ps[j].centroid
    wins[j] = Math.max(0, ps[j].alpha - a0)
    losses[j] = Math.max(0, ps[j].beta - b0)
  }
  dotEach(centroids, k, embedding, sims)
  // In a space with a corpus density, once outcomes are known, the density of the agent's past queries near this one predicts (src/core/expertise.ts).
  return calibratedSuccess(profile, embedding, sims) ?? mixtureEstimate(sims, wins, losses, opts, k)
}

/** Working rows of {@link predictSuccess}, reused across calls (a call never re-enters itself): a score allocates only its result. */
let predictScratch = scratchOf(16)

function scratchOf (k: number): { sims: Float64Array, wins: Float64Array, losses: Float64Array, centroids: Float32Array[] } {
  return { sims: new Float64Array(k), wins: new Float64Array(k), losses: new Float64Array(k), centroids: new Array<Float32Array>(k) }
}

/** Options of {@link PeerObservations}; its kernel defaults are broader (near 0.2, temperature 0.05, floor 0.25). */
export interface PeerObservationsOptions extends ScoringOptions {
  /** Peers remembered; the least recently recorded is forgotten first (default 256). */
  maxPeers?: number
  /** Prototypes per peer (default 4): bounded memory per peer. */
  prototypesPerPeer?: number
  /** Spawn threshold of the per-peer profiles (default as in prototypes.ts). */
  spawnSimilarity?: number
}

/** How a node's profile of a peer learns: 4 prototypes, no density calibration. */
const PEER_PROFILE_OPTIONS = Object.freeze({ maxPrototypes: 4, calibrate: false })

/**
 * What THIS node saw of each peer: the queries it sent and how the answers
 * went, as a small profile per peer. Memory is bounded by
 * `maxPeers × prototypesPerPeer` centroids.
 */
export class PeerObservations {
  private readonly peers = new Map<string, Profile>()
  /** The peer of the last lookup and its profile (a decision asks for an estimate and then the count): cleared when a peer is forgotten. */
  private lastPeer: string | undefined = undefined
  private lastProfile: Profile | undefined = undefined
  private readonly opts: PeerObservationsOptions
  private readonly profileOpts: ProfileOptions

  constructor (private readonly embedderId: string, private readonly dim: number, opts: PeerObservationsOptions = {}) {
    // A peer's own answers are few and direct evidence of how it behaves: they generalise more broadly than advertised prototypes.
    this.opts = { nearSimilarity: 0.2, temperature: 0.05, floor: 0.25, ...opts }
    // (Read by their kernel evidence only: no density calibration to fit.) One options object for every default instance, which the learner resolves once.
    this.profileOpts = opts.prototypesPerPeer === undefined && opts.spawnSimilarity === undefined
      ? PEER_PROFILE_OPTIONS
      : { ...PEER_PROFILE_OPTIONS, maxPrototypes: opts.prototypesPerPeer ?? PEER_PROFILE_OPTIONS.maxPrototypes, spawnSimilarity: opts.spawnSimilarity }
  }

  /** Records one answer of `peerId` to a query, `outcome` in [0, 1]. */
  record (peerId: string, embedding: Float32Array, outcome: number): void {
    let profile = this.peers.get(peerId)
    this.lastPeer = undefined
    if (profile == null) {
      profile = emptyProfile(this.embedderId, this.dim)
    } else {
      this.peers.delete(peerId)
    }
    // Reinserted last: Map order is recency order.
    this.peers.set(peerId, profile)
    observe(profile, embedding, outcome, this.profileOpts)
    this.keepBound()
  }

  /**
   * The observed success of `peerId` near `embedding`, from evidence only (no
   * prior: {@link scoreCandidate} supplies it); `undefined` for a peer never observed.
   * Evidence is 0 when nothing observed is near.
   */
  estimate (peerId: string, embedding: Float32Array): SuccessEstimate | undefined {
    const profile = this.profileOf(peerId)
    if (profile == null) return undefined
    const { successes, failures } = kernelEvidence(profile, embedding, this.opts)
    return posterior({ mean: 0.5, weight: 0 }, successes, failures)
  }

  /** Number of answers recorded from `peerId`. */
  count (peerId: string): number {
    const profile = this.profileOf(peerId)
    if (profile === undefined) return 0
    const ps = profile.prototypes
    let n = 0
    for (let i = 0; i < ps.length; i++) n += ps[i].count
    return n
  }

  /** Drops everything observed of `peerId`. */
  forget (peerId: string): void {
    this.lastPeer = undefined
    this.peers.delete(peerId)
  }

  /** The profile of `peerId`, remembered for the next call with the same peer. */
  private profileOf (peerId: string): Profile | undefined {
    if (peerId === this.lastPeer) return this.lastProfile
    const profile = this.peers.get(peerId)
    this.lastPeer = peerId
    this.lastProfile = profile
    return profile
  }

  /** Peers currently remembered. */
  get size (): number {
    return this.peers.size
  }

  /** Every remembered peer's observed profile, least recently recorded first (what a node saves). */
  entries (): Array<{ peerId: string, profile: Profile }> {
    return [...this.peers].map(([peerId, profile]) => ({ peerId, profile }))
  }

  /** Takes back a saved peer's profile (as {@link entries} gave it) as its most recent; one of another space is ignored. */
  restore (peerId: string, profile: Profile): boolean {
    if (profile.embedderId !== this.embedderId || profile.dim !== this.dim) return false
    this.lastPeer = undefined
    this.peers.delete(peerId)
    this.peers.set(peerId, profile)
    this.keepBound()
    return true
  }

  /** Forgets the least recently recorded peers beyond `maxPeers`. */
  private keepBound (): void {
    const max = this.opts.maxPeers ?? 256
    while (this.peers.size > max) {
      const oldest = this.peers.keys().next().value
      if (oldest === undefined) break
      this.peers.delete(oldest)
    }
  }
}

/** Options of {@link scoreCandidate}. */
export interface CandidateScoringOptions extends ScoringOptions {
  /**
   * The most pseudo-observations an advertised profile may weigh, however much
   * it claims (default 10): enough that an honest profile is not washed out by
   * the first unlucky answers, few enough that a liar is overturned by its own
   * wrong answers within a dozen queries near its claims.
   */
  advertisedCap?: number
}

/**
 * A candidate's predicted success: its advertised profile serves only as a
 * prior of at most `advertisedCap` pseudo-observations; this node's own
 * observations are added as evidence at full weight. A peer that claims
 * expertise everywhere and answers wrongly drops below the network prior
 * after a handful of answers. `advertisedEstimate` is the advertised
 * profile's prediction when the caller has made it already.
 */
export function scoreCandidate (advertised: Profile | undefined, observed: SuccessEstimate | undefined, embedding: Float32Array, opts?: CandidateScoringOptions, predict: typeof predictSuccess = predictSuccess, advertisedEstimate?: SuccessEstimate): SuccessEstimate {
  const prior = opts?.prior ?? DEFAULT_PRIOR
  const cap = opts?.advertisedCap ?? 10
  let baseMean = prior.mean
  let baseWeight = prior.weight
  let advertisedEvidence = 0
  if (advertised != null) {
    const adv = advertisedEstimate ?? predict(advertised, embedding, opts)
    baseMean = adv.mean
    baseWeight = Math.min(cap, prior.weight + adv.evidence)
    advertisedEvidence = Math.max(0, baseWeight - prior.weight)
  }
  const n = observed?.evidence ?? 0
  const m = observed?.mean ?? 0.5
  // The posterior's own object carries the evidence of both sources.
  const est = posterior({ mean: baseMean, weight: baseWeight }, m * n, (1 - m) * n)
  est.evidence = advertisedEvidence + n
  return est
}
