/**
 * Scoring a query–agent pair (DESIGN §4): the predicted success of an agent on
 * a query from its prototypes, what this node itself observed of a peer, and
 * the two combined so that observations outweigh advertised claims.
 */
import { observe, emptyProfile, type ProfileOptions } from './prototypes.js'
import type { Profile, SuccessEstimate } from './types.js'
import { dot } from './vector.js'

/** A Beta prior written as a mean and a weight in pseudo-observations. */
export interface SuccessPrior {
  mean: number
  weight: number
}

/**
 * How prototypes near a query are weighed. Defaults were picked on
 * `hash-ngram-v1-d256` over MMLU (a held-out question's cosine with its own
 * subject's prototypes is about 0.3–0.5, with other subjects' about 0.15–0.3).
 */
export interface ScoringOptions {
  /** The network prior an agent is shrunk toward when nothing of it is near (default mean 0.5, weight 2). */
  prior?: SuccessPrior
  /** How many nearest prototypes contribute (default 3). */
  neighbours?: number
  /** Cosine at which a prototype's evidence counts half (default 0.4). */
  nearSimilarity?: number
  /** Temperature of the kernel: weight `floor + (1 − floor) / (1 + exp((near − cos) / T))` (default 0.03). */
  temperature?: number
  /** Share of a prototype's evidence that counts however far it is (default 0): how much skill generalises. */
  floor?: number
  /** Beta prior every prototype started from, subtracted to get its evidence (default 1, 1 as in prototypes.ts). */
  prototypePrior?: { alpha: number, beta: number }
}

/** The network prior when none is given. */
export const DEFAULT_PRIOR: SuccessPrior = { mean: 0.5, weight: 2 }

/** Evidence pooled from the prototypes near a query: kernel-weighted successes and failures, prior not included. */
export interface KernelEvidence {
  successes: number
  failures: number
}

/** The kernel weight of a prototype at cosine `similarity` from the query, in [0, 1]. */
export function kernelWeight (similarity: number, opts?: ScoringOptions): number {
  const near = opts?.nearSimilarity ?? 0.4
  const t = opts?.temperature ?? 0.03
  const floor = opts?.floor ?? 0
  // A logistic, not a capped exponential: strictly increasing, so nearer still ranks higher once evidence is plentiful.
  return floor + (1 - floor) / (1 + Math.exp((near - similarity) / t))
}

/** Kernel-weighted pseudo-counts of the `neighbours` prototypes nearest to `embedding`. */
export function kernelEvidence (profile: Profile, embedding: Float32Array, opts?: ScoringOptions): KernelEvidence {
  const k = opts?.neighbours ?? 3
  const a0 = opts?.prototypePrior?.alpha ?? 1
  const b0 = opts?.prototypePrior?.beta ?? 1
  const ps = profile.prototypes
  // Top-k by cosine, by insertion into a short sorted list: K is small.
  const sims: number[] = []
  const idx: number[] = []
  for (let i = 0; i < ps.length; i++) {
    const s = dot(ps[i].centroid, embedding)
    let j = sims.length
    while (j > 0 && sims[j - 1] < s) j--
    if (j < k) {
      sims.splice(j, 0, s)
      idx.splice(j, 0, i)
      if (sims.length > k) { sims.pop(); idx.pop() }
    }
  }
  let successes = 0
  let failures = 0
  for (let j = 0; j < idx.length; j++) {
    const p = ps[idx[j]]
    const w = kernelWeight(sims[j], opts)
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
 * Predicted success of the agent with `profile` on a query with `embedding`:
 * the Beta means of its nearest prototypes, weighted by kernel × evidence,
 * shrunk toward the prior by the prior's weight — so an agent with nothing
 * near the query scores the prior, with the prior's (large) variance.
 */
export function predictSuccess (profile: Profile, embedding: Float32Array, opts?: ScoringOptions): SuccessEstimate {
  const { successes, failures } = kernelEvidence(profile, embedding, opts)
  return posterior(opts?.prior ?? DEFAULT_PRIOR, successes, failures)
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

/**
 * What THIS node saw of each peer: the queries it sent and how the answers
 * went, as a small profile per peer. Memory is bounded by
 * `maxPeers × prototypesPerPeer` centroids.
 */
export class PeerObservations {
  private readonly peers = new Map<string, Profile>()
  private readonly opts: PeerObservationsOptions
  private readonly profileOpts: ProfileOptions

  constructor (private readonly embedderId: string, private readonly dim: number, opts: PeerObservationsOptions = {}) {
    // A peer's own answers are few and direct evidence of how it behaves: they generalise more broadly than advertised prototypes.
    this.opts = { nearSimilarity: 0.2, temperature: 0.05, floor: 0.25, ...opts }
    this.profileOpts = { maxPrototypes: opts.prototypesPerPeer ?? 4, spawnSimilarity: opts.spawnSimilarity }
  }

  /** Records one answer of `peerId` to a query, `outcome` in [0, 1]. */
  record (peerId: string, embedding: Float32Array, outcome: number): void {
    let profile = this.peers.get(peerId)
    if (profile == null) {
      profile = emptyProfile(this.embedderId, this.dim)
    } else {
      this.peers.delete(peerId)
    }
    // Reinserted last: Map order is recency order.
    this.peers.set(peerId, profile)
    observe(profile, embedding, outcome, this.profileOpts)
    const max = this.opts.maxPeers ?? 256
    while (this.peers.size > max) {
      const oldest = this.peers.keys().next().value
      if (oldest === undefined) break
      this.peers.delete(oldest)
    }
  }

  /**
   * The observed success of `peerId` near `embedding`, from evidence only (no
   * prior: {@link scoreCandidate} supplies it); `undefined` for a peer never observed.
   * Evidence is 0 when nothing observed is near.
   */
  estimate (peerId: string, embedding: Float32Array): SuccessEstimate | undefined {
    const profile = this.peers.get(peerId)
    if (profile == null) return undefined
    const { successes, failures } = kernelEvidence(profile, embedding, this.opts)
    return posterior({ mean: 0.5, weight: 0 }, successes, failures)
  }

  /** Number of answers recorded from `peerId`. */
  count (peerId: string): number {
    return this.peers.get(peerId)?.prototypes.reduce((s, p) => s + p.count, 0) ?? 0
  }

  /** Drops everything observed of `peerId`. */
  forget (peerId: string): void {
    this.peers.delete(peerId)
  }

  /** Peers currently remembered. */
  get size (): number {
    return this.peers.size
  }
}

/** Options of {@link scoreCandidate}. */
export interface CandidateScoringOptions extends ScoringOptions {
  /** The most pseudo-observations an advertised profile may weigh, however much it claims (default 3). */
  advertisedCap?: number
}

/**
 * A candidate's predicted success: its advertised profile serves only as a
 * prior of at most `advertisedCap` pseudo-observations; this node's own
 * observations are added as evidence at full weight. A peer that claims
 * expertise everywhere and answers wrongly drops below the network prior
 * after a handful of answers.
 */
export function scoreCandidate (advertised: Profile | undefined, observed: SuccessEstimate | undefined, embedding: Float32Array, opts?: CandidateScoringOptions): SuccessEstimate {
  const prior = opts?.prior ?? DEFAULT_PRIOR
  const cap = opts?.advertisedCap ?? 3
  let base: SuccessPrior = prior
  let advertisedEvidence = 0
  if (advertised != null) {
    const adv = predictSuccess(advertised, embedding, opts)
    base = { mean: adv.mean, weight: Math.min(cap, prior.weight + adv.evidence) }
    advertisedEvidence = Math.max(0, base.weight - prior.weight)
  }
  const n = observed?.evidence ?? 0
  const m = observed?.mean ?? 0.5
  const est = posterior(base, m * n, (1 - m) * n)
  return { ...est, evidence: advertisedEvidence + n }
}
