/**
 * The one place where a node's state becomes a {@link DecisionContext}: the
 * simulator and the libp2p node both call {@link buildDecisionContext}, so a
 * policy sees the same inputs built the same way in both.
 *
 * Success: the advertised profile as a capped prior, this node's own
 * observations of the peer as evidence (`scoreCandidate`). Load: this node's
 * beliefs (`LoadBeliefs`). Crowd: the rivals the beacons' arrival rates imply.
 */
import type { LoadBeliefs } from './beliefs.js'
import { ReasonError } from './errors.js'
import { admitsAsExpert } from './admission.js'
import { predictsByDensity } from './expertise.js'
import { predictSuccess, scoreCandidate, type CandidateScoringOptions, type PeerObservations } from './scoring.js'
import type { Candidate, DecisionContext, OracleView, Profile, Rng, SuccessEstimate } from './types.js'

/**
 * λ, utility lost per second of expected latency, of a node and of the
 * simulator unless configured: 50 s of waiting cost as much as 0.1 of
 * success probability, about what an expert adds over a small model on its
 * topic. Since serving agents lend themselves only where they are good
 * (core `EXPERT_ADMISSION`), a delegation rarely waits behind a queue it
 * gains nothing from, and a patient λ buys accuracy at a mean latency well
 * under greedy's (`ppai bench --scenario paper`, seed 1: 0.01 gives +1.9
 * points over local-only at 0.49 × greedy's mean latency, 0.002 +2.9 at
 * 0.64 ×). (0.05 before profiles could tell experts apart.)
 */
export const DEFAULT_LATENCY_WEIGHT = 0.002

/** Why a router input was rejected: countable. */
export type RouterInputReason = 'embedding-space'

/** The state cannot make a context; `reason` is countable. */
export class RouterInputError extends ReasonError<RouterInputReason> {}

/** A candidate as discovery found it: who, its advertised profile if fetched, how far. */
export interface CandidateInput {
  id: string
  /** Advertised profile (a prior only); absent when not fetched. */
  profile?: Profile
  /** Network round trip, ms. */
  rttMs: number
  /** Mean service time, ms, when the caller knows it; else from the beliefs. */
  serviceMs?: number
}

/** The state a decision is built from. */
export interface RouterInput {
  /** ms, from the caller's clock. */
  now: number
  queryId: string
  embedding: Float32Array
  local: { profile: Profile, backlog: number, serviceMs: number }
  candidates: readonly CandidateInput[]
  beliefs: LoadBeliefs
  observations: PeerObservations
  /** λ: utility lost per second of expected latency ({@link DEFAULT_LATENCY_WEIGHT} on a node and in the simulator unless set). */
  latencyWeight: number
  rng: Rng
  oracle?: OracleView
  /** The game's crowd, when the caller has its own estimate; else from the beliefs over `rivalsWindowMs`. */
  expectedRivals?: number
  /** The decision window for {@link LoadBeliefs.estimateRivals}: how long others' choices stay unseen (e.g. the beacon period). Default 2000. */
  rivalsWindowMs?: number
  /** Share of the beaconed arrivals that are delegated (default 1, the worst case). */
  delegatedShare?: number
  /** Service time of a candidate nobody has told us about, ms. Default: the own agent's. */
  defaultServiceMs?: number
  scoring?: CandidateScoringOptions
  /** Predicts an advertised profile's success (default {@link predictSuccess}); a caller that asks about the same unchanged profile and query many times may pass a memo of it. */
  predictAdvertised?: typeof predictSuccess
  /**
   * The peers admit by expertise (core `EXPERT_ADMISSION`, a node's default): a candidate whose advertised profile
   * scores itself firmly (see {@link ownPredictedSuccess}) and predicts below `EXPERT_ADMISSION.minSuccess` on this
   * query is left out, since it would refuse it (`not-expert`) after a round trip; the oracle sees every candidate.
   * Default false.
   */
  expertPeers?: boolean
}

/**
 * Builds the context a policy decides on. Candidates are de-duplicated by id;
 * an advertised profile of another embedding space (or dimension) is ignored,
 * never mixed in, so such a peer is scored from observations and the prior.
 * Throws {@link RouterInputError} (`embedding-space`) when the query was
 * embedded in another dimension than the own profile.
 */
export function buildDecisionContext (input: RouterInput): DecisionContext {
  const { now, embedding, beliefs, observations } = input
  if (input.local.profile.dim !== embedding.length) {
    throw new RouterInputError('embedding-space', `the query embedding has ${embedding.length} dimensions, the own profile (${input.local.profile.embedderId}) ${input.local.profile.dim}`)
  }
  const space = input.local.profile.embedderId
  const defaultServiceMs = input.defaultServiceMs ?? input.local.serviceMs
  // A handful of candidates is de-duplicated by a scan of those kept (no Set per decision); many, by a Set.
  const seen = input.candidates.length > 16 ? new Set<string>() : undefined
  const candidates: Candidate[] = []
  for (const c of input.candidates) {
    if (seen !== undefined ? seen.has(c.id) : isKept(candidates, c.id)) continue
    seen?.add(c.id)
    const advertised = c.profile !== undefined && c.profile.embedderId === space && c.profile.dim === embedding.length ? c.profile : undefined
    let claim: SuccessEstimate | undefined
    // (Not for the oracle: it knows each peer's true success and its live admission, not only the published claim.)
    if (advertised !== undefined && input.expertPeers === true && input.oracle === undefined && scoresOwnSuccess(advertised)) {
      // What the peer's own admission will compute from the same profile (its calibrated prediction does not depend on the background).
      claim = (input.predictAdvertised ?? predictSuccess)(advertised, embedding, input.scoring)
      if (!admitsAsExpert(claim.mean)) continue
    }
    candidates.push({
      id: c.id,
      success: scoreCandidate(advertised, observations.estimate(c.id, embedding), embedding, input.scoring, input.predictAdvertised, claim),
      backlog: beliefs.belief(c.id, now),
      serviceMs: c.serviceMs ?? beliefs.serviceMs(c.id) ?? defaultServiceMs,
      rttMs: c.rttMs,
      familiarity: profileEvidence(advertised) + observations.count(c.id)
    })
  }
  return {
    now,
    queryId: input.queryId,
    local: {
      // The own profile was learned from the owner's queries, the very distribution this query comes from: far from its prototypes it still predicts its pooled record.
      success: predictSuccess(input.local.profile, embedding, ownScoring(input.scoring)),
      backlog: input.local.backlog,
      serviceMs: input.local.serviceMs
    },
    candidates,
    latencyWeight: input.latencyWeight,
    expectedRivals: input.expectedRivals ?? beliefs.estimateRivals(now, input.rivalsWindowMs ?? 2000, input.delegatedShare ?? 1),
    rng: input.rng,
    oracle: input.oracle
  }
}

/** The scoring of the own agent: `scoring` with the pooled background (see {@link buildDecisionContext}). */
function ownScoring (scoring?: CandidateScoringOptions): CandidateScoringOptions {
  // A node and the simulator pass the same options object with every decision: its own scoring is made once.
  if (lastOwnScoring.of !== scoring) lastOwnScoring = { of: scoring, own: { ...scoring, background: 'pooled' } }
  return lastOwnScoring.own
}

let lastOwnScoring: { of: CandidateScoringOptions | undefined, own: CandidateScoringOptions } = { of: undefined, own: { background: 'pooled' } }

/**
 * The own agent's predicted success on a query, as a decision scores it:
 * what the serving side's expert admission asks of its own profile. Undefined
 * when the profile's space has no corpus reference or the profile no
 * calibration (a hashed or `openai:` space): its Beta mixture does not say
 * where the agent is good firmly enough to refuse on, and the plain terms hold.
 */
export function ownPredictedSuccess (profile: Profile, embedding: Float32Array, scoring?: CandidateScoringOptions): number | undefined {
  if (!scoresOwnSuccess(profile)) return undefined
  return predictSuccess(profile, embedding, ownScoring(scoring)).mean
}

/** Whether {@link ownPredictedSuccess} says anything for `profile` (asked before embedding a question only for it). */
export function scoresOwnSuccess (profile: Profile): boolean {
  return predictsByDensity(profile)
}

/** Answers a profile summarises (its prototypes' Beta evidence, the uniform prior removed). */
function profileEvidence (profile: Profile | undefined): number {
  if (profile === undefined) return 0
  let n = 0
  for (const p of profile.prototypes) n += Math.max(0, p.alpha + p.beta - 2)
  return n
}

function isKept (kept: readonly Candidate[], id: string): boolean {
  for (let k = 0; k < kept.length; k++) if (kept[k].id === id) return true
  return false
}
