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
}

/** The owner's terms. */
export interface AdmissionOptions {
  /** Longest predicted wait the owner accepts for its next query, ms. Default: 2 × serviceMs. */
  ownerWaitBoundMs?: number
  /** Most remote queries queued at once, so that borrowed queries do not wait behind the owner for ever. Default 4. */
  maxRemoteQueued?: number
  /**
   * Most remote queries one peer may have queued at once (default: half of
   * `maxRemoteQueued`, rounded up), so that a peer flooding within its rate
   * limits cannot take every slot and turn the others away.
   */
  maxPerPeerQueued?: number
}

/** Why a remote query was admitted or refused: countable. */
export type AdmissionReason = 'admitted' | 'owner-wait-bound' | 'remote-queue-full' | 'peer-share' | 'owner-saturated'

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
  const bound = opts.ownerWaitBoundMs ?? 2 * serviceMs
  const maxRemote = opts.maxRemoteQueued ?? 4
  const remote = Math.max(0, state.remoteQueued)
  const ownerBacklog = Math.max(0, state.backlog - remote)
  const rhoOwner = Math.max(0, state.ownerArrivalPerSec) * serviceMs / 1000
  if (rhoOwner >= 1) return { admit: false, reason: 'owner-saturated', predictedOwnerWaitMs: Infinity }
  const predictedOwnerWaitMs = (ownerBacklog + 1) * serviceMs / (1 - rhoOwner)
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
