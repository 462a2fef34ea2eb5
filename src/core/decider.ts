/**
 * One user's deciding side (ARCHITECTURE.md §5): its beliefs about peers'
 * load, its own observations of their answers, and its routing policy — the
 * one object a node and a simulated node both hold, fed the same kinds of
 * evidence (beacons after gossip, refusals, response times, feedback on
 * answers) through the same methods. The context a policy sees is built by
 * the core's router.
 */
import { LoadBeliefs, type ResponseTiming } from './beliefs.js'
import { createPolicy } from './policies.js'
import { buildDecisionContext, type RouterInput } from './router.js'
import { PeerObservations, type ScoringOptions, type predictSuccess } from './scoring.js'
import type { Decision, DecisionContext, LoadBeacon, PolicyName, RoutingPolicy } from './types.js'

/** What a decision is built from, besides what the decider holds: the query, the own agent, the candidates. */
export type DecisionInput = Pick<RouterInput, 'now' | 'queryId' | 'embedding' | 'local' | 'candidates' | 'latencyWeight' | 'rng' | 'oracle'>

export interface DeciderOptions {
  /** The embedding space observations are kept in. */
  embedderId: string
  dim: number
  policy: PolicyName | RoutingPolicy
  /** How long others' choices stay unseen (the beacon period), ms: the window of the rivals' estimate. */
  beaconWindowMs: number
  scoring?: ScoringOptions
  /** Predicts an advertised profile's success (default the core's `predictSuccess`); a memo of it may be passed. */
  predictAdvertised?: typeof predictSuccess
  /** An index of peer ids by which the beliefs find their records (see LoadBeliefs); without it, a map. */
  peerIndex?: (peerId: string) => number
  /** Keep the last beacon heard of each peer, for status views ({@link Decider.lastBeacon}); default false. */
  keepBeacons?: boolean
  /** The peers admit by expertise: candidates that would refuse as not expert are left out (RouterInput `expertPeers`); default false. */
  expertPeers?: boolean
}

export class Decider {
  readonly beliefs: LoadBeliefs
  readonly observations: PeerObservations
  private policy: RoutingPolicy

  constructor (private readonly opts: DeciderOptions) {
    this.beliefs = new LoadBeliefs({ peerIndex: opts.peerIndex, keepBeacons: opts.keepBeacons })
    this.observations = new PeerObservations(opts.embedderId, opts.dim)
    this.policy = typeof opts.policy === 'string' ? createPolicy(opts.policy) : opts.policy
  }

  get policyName (): PolicyName {
    return this.policy.name
  }

  setPolicy (policy: PolicyName | RoutingPolicy): void {
    this.policy = typeof policy === 'string' ? createPolicy(policy) : policy
  }

  /** A beacon reached this node at `receivedAt`; one heard twice (or an older one) is applied once. True when applied. */
  hearBeacon (beacon: LoadBeacon, receivedAt: number): boolean {
    return this.beliefs.onNewBeacon(beacon, receivedAt)
  }

  /** The last beacon heard of `peerId` (with `keepBeacons`), applied or not. */
  lastBeacon (peerId: string): LoadBeacon | undefined {
    return this.beliefs.lastBeacon(peerId)
  }

  /** `peerId` refused a query, reporting `backlog`. */
  hearRefusal (peerId: string, backlog: number, now: number): void {
    this.beliefs.onRefusal(peerId, backlog, now)
  }

  /** `peerId` answered, in `timing`. */
  hearResponse (peerId: string, timing: ResponseTiming, now: number): void {
    this.beliefs.onResponse(peerId, timing, now)
  }

  /** Feedback on an answer `peerId` gave (`outcome` in [0, 1]: 1 right, 0 wrong). */
  recordAnswer (peerId: string, embedding: Float32Array, outcome: number): void {
    this.observations.record(peerId, embedding, outcome)
  }

  /** Builds the context with the core's router and lets the policy decide; `inspect` sees the context (the node's decision log, tests). */
  decide (input: DecisionInput, inspect?: (ctx: DecisionContext) => void): Decision {
    const ctx = buildDecisionContext({
      ...input,
      beliefs: this.beliefs,
      observations: this.observations,
      rivalsWindowMs: this.opts.beaconWindowMs,
      scoring: this.opts.scoring,
      predictAdvertised: this.opts.predictAdvertised,
      expertPeers: this.opts.expertPeers
    })
    inspect?.(ctx)
    return this.policy.decide(ctx)
  }
}
