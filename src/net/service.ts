/**
 * What a running node offers to its owner: the contract between the libp2p
 * node (`src/net`) and the HTTP API (`src/api`). The API only moves validated
 * values in and out of this interface.
 */
import type { ActionId, Decision, LoadBeacon, Profile } from '../core/types.js'

/** `ppai` routes through the network, `local` forces the own agent, `peer:<id>` a given peer. */
export type ModelChoice = 'ppai' | 'local' | `peer:${string}`

export interface AskOptions {
  model?: ModelChoice
  /** The answer's id (default a fresh UUID): a streaming caller names the answer before it is in. Must be unique. */
  id?: string
  /** Whole-query deadline, ms from now. */
  deadlineMs?: number
  signal?: AbortSignal
  /**
   * Streams the answer: called with each piece as the serving agent (own or
   * a peer's) writes it. Once a piece has come, the query is that agent's: a
   * failure after it ends the query (`interrupted`) rather than falling back.
   * An agent that cannot stream sends nothing here; its answer is in the result.
   */
  onToken?: (text: string) => void
}

/** One try of a query at one agent. */
export interface Attempt {
  action: ActionId
  status: 'ok' | 'busy' | 'error' | 'timeout'
  latencyMs: number
  error?: string
}

export interface AskResult {
  /** Answer id, for feedback. */
  id: string
  question: string
  answer: string
  /** Peer id of the agent that answered, or `'local'`. */
  servedBy: string
  /** The routing decision, or undefined when the model choice forced the agent. */
  decision?: Decision
  attempts: Attempt[]
  latencyMs: number
}

/** A routing decision and what came of it, for the decision log. */
export interface DecisionRecord {
  id: string
  at: number
  question: string
  /** Candidates with their scores, as the policy saw them. */
  candidates: Array<{ id: string, success: number, believedBacklog: number, probability: number, utility: number }>
  decision?: Decision
  outcome?: { servedBy: string, status: 'ok' | 'error', latencyMs: number, attempts: Attempt[] }
}

export interface PeerSummary {
  peerId: string
  name?: string
  addresses: string[]
  /** Short form of the advertised profile. */
  prototypes: Array<{ count: number, quality: number, centroid2d?: [number, number] }>
  profileVersion?: number
  believedBacklog?: number
  lastBeacon?: LoadBeacon
  /** Success rate observed by this node, if any answers came back from that peer. */
  observedSuccess?: number
  observedCount: number
}

export interface NodeStatus {
  peerId: string
  name: string
  network: string
  embedderId: string
  addresses: string[]
  startedAt: number
  uptimeMs: number
  peers: number
  backlog: number
  served: { local: number, remote: number, refused: number }
  asked: { total: number, delegated: number, failed: number }
  agent: string
}

export interface NodeService {
  readonly peerId: string
  readonly name: string
  ask(question: string, opts?: AskOptions): Promise<AskResult>
  status(): NodeStatus
  peers(): PeerSummary[]
  decisions(limit?: number): DecisionRecord[]
  /** Rates an answer (0 = wrong, 1 = right) by its id; false when the id is unknown. */
  feedback(answerId: string, rating: number): boolean
  profile(): Profile
  /** Dispatches `decision` (detail: DecisionRecord) and `beacon` (detail: LoadBeacon) events. */
  readonly events: EventTarget
}
