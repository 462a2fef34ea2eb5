/**
 * One simulated node's deciding side: its beliefs about peers' load, its own
 * observations of their answers, and the policy — exactly the core pieces a
 * real node holds, fed the same kinds of evidence (beacons after gossip,
 * refusals, response times, feedback on answers). The context is built by the
 * core's router, as on the node.
 */
import { LoadBeliefs, type ResponseTiming } from '../core/beliefs.js'
import { createPolicy } from '../core/policies.js'
import { buildDecisionContext } from '../core/router.js'
import { PeerObservations, type ScoringOptions } from '../core/scoring.js'
import type { ScoreMemo } from './score-memo.js'
import type { Decision, DecisionContext, LoadBeacon, OracleView, PolicyName, Profile, Rng, RoutingPolicy } from '../core/types.js'

/** What the simulator knows at a decision instant (the node's view, plus the oracle's for the oracle policy). */
export interface DecisionInput {
  now: number
  queryId: string
  embedding: Float32Array
  local: { profile: Profile, backlog: number, serviceMs: number }
  candidates: Array<{ id: string, profile: Profile, rttMs: number }>
  latencyWeight: number
  rng: Rng
  oracle?: OracleView
}

export class UserDecider {
  readonly beliefs: LoadBeliefs
  readonly observations: PeerObservations
  private readonly policy: RoutingPolicy

  /**
   * `advertisedScores`: a memo of advertised profiles' scores shared by the run's deciders (the core's predictSuccess,
   * computed once per profile and question). `peerIndex`: the run's index of agent ids, by which the beliefs find
   * their records (LoadBeliefs' `peerIndex`); without it, a map as on a node.
   */
  constructor (readonly id: string, embedderId: string, dim: number, policy: PolicyName, private readonly beaconWindowMs: number, private readonly scoring: ScoringOptions = {}, private readonly advertisedScores?: ScoreMemo, peerIndex?: (peerId: string) => number) {
    this.beliefs = new LoadBeliefs({ peerIndex })
    this.observations = new PeerObservations(embedderId, dim)
    this.policy = createPolicy(policy)
  }

  /** A beacon reached this node by gossip at `receivedAt` (applied once per beacon). */
  hearBeacon (beacon: LoadBeacon, receivedAt: number): void {
    // The beliefs remember the newest beacon applied per peer: no second map of 10,000 deciders x their peers.
    this.beliefs.onNewBeacon(beacon, receivedAt)
  }

  hearRefusal (peerId: string, backlog: number, now: number): void {
    this.beliefs.onRefusal(peerId, backlog, now)
  }

  hearResponse (peerId: string, timing: ResponseTiming, now: number): void {
    this.beliefs.onResponse(peerId, timing, now)
  }

  /** Feedback on an answer `peerId` gave (1 right, 0 wrong). */
  recordAnswer (peerId: string, embedding: Float32Array, outcome: number): void {
    this.observations.record(peerId, embedding, outcome)
  }

  /** Builds the context with the core's router and lets the policy decide; `inspect` sees the context (tests, tracing). */
  decide (input: DecisionInput, inspect?: (ctx: DecisionContext) => void): Decision {
    const ctx = buildDecisionContext({
      now: input.now,
      queryId: input.queryId,
      embedding: input.embedding,
      local: input.local,
      candidates: input.candidates,
      beliefs: this.beliefs,
      observations: this.observations,
      latencyWeight: input.latencyWeight,
      rng: input.rng,
      oracle: input.oracle,
      rivalsWindowMs: this.beaconWindowMs,
      scoring: this.scoring,
      predictAdvertised: this.advertisedScores?.predict
    })
    inspect?.(ctx)
    return this.policy.decide(ctx)
  }
}
