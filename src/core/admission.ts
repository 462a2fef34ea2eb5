/**
 * Owner-first admission (ARCHITECTURE.md §5): the serving side lends its agent to the
 * network only while its owner does not pay for it.
 *
 * Queue discipline, the same in the node and the simulator:
 * - one request in service at a time (concurrency 1 on an edge device), never
 *   preempted;
 * - the owner's queries go first: a new owner query is queued after the
 *   owner queries already waiting and before every remote one
 *   ({@link ownerFirstInsertIndex}); a remote query joins the end;
 * - a remote query is admitted only if {@link admitRemote} says so; otherwise
 *   it is refused at once ("busy") with the current backlog, which the sender
 *   feeds into its beliefs before it takes its next choice.
 *
 * Pure: the caller passes its measured state.
 */

/** What the serving node knows of itself when a remote query arrives. */
export interface AdmissionState {
  /** Requests queued or in service, owner and remote. */
  backlog: number
  /** Of `backlog`, the remote ones. */
  remoteQueued: number
  /** Mean service time of one request, ms. */
  serviceMs: number
  /** The owner's own queries per second, as measured. */
  ownerArrivalPerSec: number
  /** Of `remoteQueued`, those of the peer asking now; when given, one peer may hold only its share of the remote slots. */
  fromPeerQueued?: number
  /**
   * The agent's own predicted success on the query (its own profile, as its
   * owner's queries are scored). When given, the agent lends itself only
   * where it is good ({@link EXPERT_ADMISSION}).
   */
  ownSuccess?: number
}

/**
 * Expertise-aware terms (ARCHITECTURE.md §5). An agent's spare capacity is
 * scarce (its owner comes first) and worth most where it is an expert: a
 * query it would answer no better than the asker's own agent only costs the
 * asker a round trip and takes a slot from a query it is good at. So a
 * remote query whose own predicted success is below `minSuccess` is refused
 * ('not-expert'), and one above it is admitted on looser terms: a longer
 * owner wait bound and more remote slots. Without `ownSuccess` the plain
 * terms hold (2 services, 4 slots).
 *
 * Measured in `ppai bench --scenario paper` (seed 1, load 0.7): with these
 * terms ppai gains +1.9 points over local-only against +1.2 with the plain
 * ones; `subjects` +0.9 against +0.1.
 */
export const EXPERT_ADMISSION = { minSuccess: 0.75, ownerWaitServices: 6, maxRemoteQueued: 8 }

/** Whether an agent that predicts `ownSuccess` on a question lends itself for it ({@link EXPERT_ADMISSION}): else `not-expert`. */
export function admitsAsExpert (ownSuccess: number): boolean {
  return ownSuccess >= EXPERT_ADMISSION.minSuccess
}

/** The owner's terms. */
export interface AdmissionOptions {
  /** Longest predicted wait the owner accepts for its next query, ms. Default: 2 × serviceMs (6 × for an expert's query, see {@link EXPERT_ADMISSION}). */
  ownerWaitBoundMs?: number
  /** Most remote queries queued at once, so that borrowed queries do not wait behind the owner for ever. Default 4 (8 for an expert's query). */
  maxRemoteQueued?: number
  /**
   * Most remote queries one peer may have queued at once (default: half of
   * `maxRemoteQueued`, rounded up), so that a peer flooding within its rate
   * limits cannot take every slot and turn the others away.
   */
  maxPerPeerQueued?: number
}

/** Why a remote query was admitted or refused: countable. */
export type AdmissionReason = 'admitted' | 'owner-wait-bound' | 'remote-queue-full' | 'peer-share' | 'owner-saturated' | 'not-expert'

/** The verdict on one remote query. */
export interface AdmissionDecision {
  admit: boolean
  reason: AdmissionReason
  /** The owner's predicted wait for its next query if this one is admitted, ms (Infinity when the owner alone saturates the agent). */
  predictedOwnerWaitMs: number
}

/**
 * Decides whether to admit one more remote query.
 *
 * The owner's next query waits for the owner queries ahead of it plus the one
 * request in service, which cannot be preempted: in the worst case, the
 * remote query being admitted. Owner queries that arrive meanwhile also go
 * ahead, hence the M/G/1 priority factor 1/(1 − ρ_owner):
 *
 *   predictedOwnerWaitMs = (ownerBacklog + 1) · serviceMs / (1 − ρ_owner)
 */
export function admitRemote (state: AdmissionState, opts: AdmissionOptions = {}): AdmissionDecision {
  const serviceMs = Math.max(0, state.serviceMs)
  const expert = state.ownSuccess !== undefined
  const bound = opts.ownerWaitBoundMs ?? (expert ? EXPERT_ADMISSION.ownerWaitServices : 2) * serviceMs
  const maxRemote = opts.maxRemoteQueued ?? (expert ? EXPERT_ADMISSION.maxRemoteQueued : 4)
  const remote = Math.max(0, state.remoteQueued)
  const ownerBacklog = Math.max(0, state.backlog - remote)
  const rhoOwner = Math.max(0, state.ownerArrivalPerSec) * serviceMs / 1000
  if (rhoOwner >= 1) return { admit: false, reason: 'owner-saturated', predictedOwnerWaitMs: Infinity }
  const predictedOwnerWaitMs = (ownerBacklog + 1) * serviceMs / (1 - rhoOwner)
  if (state.ownSuccess !== undefined && !admitsAsExpert(state.ownSuccess)) return { admit: false, reason: 'not-expert', predictedOwnerWaitMs }
  if (predictedOwnerWaitMs > bound) return { admit: false, reason: 'owner-wait-bound', predictedOwnerWaitMs }
  if (remote >= maxRemote) return { admit: false, reason: 'remote-queue-full', predictedOwnerWaitMs }
  const perPeer = opts.maxPerPeerQueued ?? Math.ceil(maxRemote / 2)
  if (state.fromPeerQueued !== undefined && state.fromPeerQueued >= perPeer) return { admit: false, reason: 'peer-share', predictedOwnerWaitMs }
  return { admit: true, reason: 'admitted', predictedOwnerWaitMs }
}

/** Who placed a queued request. */
export type QueueOrigin = 'owner' | 'remote'

/**
 * Where a new request goes in a waiting queue (the request in service is not
 * in it): an owner request after the last waiting owner request, i.e. before
 * every remote one; a remote request at the end. FIFO within each origin.
 */
export function ownerFirstInsertIndex (waiting: readonly QueueOrigin[], origin: QueueOrigin): number {
  if (origin === 'remote') return waiting.length
  const firstRemote = waiting.indexOf('remote')
  return firstRemote < 0 ? waiting.length : firstRemote
}
