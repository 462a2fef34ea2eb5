/**
 * The types every part of PPAI shares: the core's vocabulary.
 *
 * `src/core` is pure: no I/O, no wall clock, no hidden randomness. Time is a
 * number of milliseconds handed in by the caller (virtual in the simulator,
 * real in the node); randomness is a {@link Rng} handed in by the caller.
 */

/** A source of uniform random numbers in [0, 1). Injected, never global. */
export type Rng = () => number

/** Maps text to a unit vector of a fixed dimension; same text, same vector, on every machine. */
export interface Embedder {
  /** Names the embedding space, e.g. `hash-ngram-v1-d256`. Records of another id are ignored. */
  readonly id: string
  readonly dim: number
  embed(text: string): Float32Array
}

/**
 * An embedder whose vectors come from elsewhere (a model server's
 * `/v1/embeddings`): the same contract as {@link Embedder}, asynchronous.
 * The core never calls one; the node awaits it before handing vectors in.
 */
export interface AsyncEmbedder {
  /** Names the embedding space, e.g. `openai:nomic-embed-text:d768`. */
  readonly id: string
  readonly dim: number
  /** A unit vector of `dim` numbers; rejects with a message naming the source when it cannot. */
  embedAsync(text: string, signal?: AbortSignal): Promise<Float32Array>
}

/**
 * One prototype of an agent's expertise: a unit centroid in the shared space,
 * how many queries it summarises, and the Beta posterior of answering such
 * queries well.
 */
export interface Prototype {
  centroid: Float32Array
  count: number
  alpha: number
  beta: number
}

/**
 * How an agent's success follows the density of its past queries near a
 * query (src/core/expertise.ts): success = σ(a + b·x), and the information
 * matrix [[haa, hab], [hab, hbb]] of (a, b) learnt so far.
 */
export interface Calibration {
  a: number
  b: number
  haa: number
  hab: number
  hbb: number
}

/** An agent's expertise: a few prototypes in one embedding space. */
export interface Profile {
  embedderId: string
  dim: number
  /** Increases on every change that is published. */
  version: number
  prototypes: Prototype[]
  /** Density → success, once outcomes are known; absent, the prototypes' Beta mixture alone predicts. */
  calibration?: Calibration
}

/** Predicted probability that an agent answers a query well, with its uncertainty. */
export interface SuccessEstimate {
  /** Posterior mean in [0, 1]. */
  mean: number
  /** Posterior variance; large for agents with little evidence near the query. */
  variance: number
  /** Effective number of observations behind the estimate. */
  evidence: number
}

/** What a node gossips about its load every few seconds. */
export interface LoadBeacon {
  peerId: string
  /** Requests queued or in service at `sentAt`. */
  backlog: number
  /** Mean service time of one request, ms. */
  serviceMs: number
  /** Requests arriving per second (own and remote), as the node measures it. */
  arrivalPerSec: number
  /** Sender's clock, ms. */
  sentAt: number
}

/** A believed (never observed) distribution of a candidate's current backlog. */
export interface Belief {
  mean: number
  variance: number
  /** Age of the information it rests on, ms. */
  ageMs: number
}

/** A remote agent that a decision may choose. */
export interface Candidate {
  id: string
  /** Predicted success on this query (prototype score, own observations first). */
  success: SuccessEstimate
  /** Believed backlog now. */
  backlog: Belief
  /** Mean service time of one request at this agent, ms. */
  serviceMs: number
  /** Network round trip to this agent, ms. */
  rttMs: number
  /**
   * Evidence known of this agent anywhere, not only near this query: its
   * advertised profile's answers plus this node's observations of it. 0 for a
   * newcomer; policies that explore favour only those.
   */
  familiarity?: number
}

/** The node's own agent, always a possible action. */
export interface LocalOption {
  success: SuccessEstimate
  /** Own backlog, observed exactly. */
  backlog: number
  serviceMs: number
}

/**
 * The true state, handed only to the oracle policy (the simulator knows it;
 * a real node never does).
 */
export interface OracleView {
  /** Probability (0 or 1 when the answer is recorded) that `agentId` answers this query well. `'local'` for the own agent. */
  trueSuccess(agentId: string): number
  /** True backlog of `agentId` now. `'local'` for the own agent. */
  trueBacklog(agentId: string): number
}

/** Everything a policy may look at when it places one query. */
export interface DecisionContext {
  /** ms, from the caller's clock. */
  now: number
  queryId: string
  local: LocalOption
  candidates: Candidate[]
  /** λ: utility lost per second of expected latency. */
  latencyWeight: number
  /** Expected number of other nodes placing a query on the same candidates in one decision window (the game's crowd). */
  expectedRivals: number
  rng: Rng
  oracle?: OracleView
}

/** `'local'` or a candidate id. */
export type ActionId = string

/** One action of a decision, with its equilibrium probability and expected utility. */
export interface ActionExplanation {
  action: ActionId
  probability: number
  utility: number
  success: number
  expectedLatencyMs: number
}

/** A routing decision, explainable: the choice, the order to fall back in, and why. */
export interface Decision {
  policy: PolicyName
  /** The chosen action. */
  action: ActionId
  /** Remote candidates to try next if the chosen one refuses or fails, best first; `'local'` is always the last resort and is not listed. */
  fallbacks: ActionId[]
  /** Per action, where the policy computes it (ppai: the equilibrium strategy). */
  explanation: ActionExplanation[]
  /** One line a person can read. */
  reason: string
}

export const POLICY_NAMES = ['ppai', 'local-only', 'random', 'greedy', 'least-loaded', 'power-of-two', 'oracle'] as const
export type PolicyName = (typeof POLICY_NAMES)[number]

/** A routing policy: a value, shared by the simulator and the node. */
export interface RoutingPolicy {
  readonly name: PolicyName
  decide(ctx: DecisionContext): Decision
}
