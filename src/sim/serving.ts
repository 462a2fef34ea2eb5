/**
 * The serving side of a simulated agent: owner-first admission of a remote
 * request (the core's `admitRemote`, as on a node), the device's queue and
 * the end of each service.
 */
import { admitRemote } from '../core/admission.js'
import { ownPredictedSuccess } from '../core/router.js'
import { serviceTimeMs } from './device.js'
import type { QueuedJob } from './device-queue.js'
import { finish } from './feedback.js'
import { LOCAL, rtt, type AgentState, type QueryState, type SimState } from './world-setup.js'

/** Starts the next job on agent `i`'s device if it is idle. */
export function startService (s: SimState, i: number, now: number): void {
  const a = s.agents[i]
  const dev = a.device
  while (dev.current === undefined) {
    const job = dev.next()
    if (job === undefined) break
    // A request whose sender has moved on (failed over) is dropped: the stream closed.
    if (job.query.done || job.query.token !== job.token) continue
    dev.current = job
    dev.startedAt = now
    dev.serviceToken++
    s.queue.push(now + job.serviceMs, { kind: 'serviceEnd', agent: i, serviceToken: dev.serviceToken })
  }
  // Every change of a device's queue ends here (enqueue, end of service, churn).
  s.board.setBacklog(i, dev.backlog)
}

/** Puts `job` on agent `i`'s device. */
export function enqueue (s: SimState, i: number, job: QueuedJob<QueryState>, now: number): void {
  const a = s.agents[i]
  a.device.enqueue(job)
  a.allMeter.add(now)
  s.board.setMeter(i, a.allMeter.decayedCountValue, a.allMeter.updatedAt)
  if (!job.remote) a.ownerMeter.add(now)
  if (a.device.backlog > s.maxBacklog) s.maxBacklog = a.device.backlog
  startService(s, i, now)
}

/** The serving agent's own predicted success on a query, from the profile its node holds (as a node scores its owner's queries). */
function ownSuccessOf (s: SimState, a: AgentState, q: QueryState): number | undefined {
  return ownPredictedSuccess(a.ownProfile, q.embedding, s.params.kernel)
}

/** A request for `q` reached agent `j`: admitted onto its device, or refused with its backlog. */
export function onRequest (s: SimState, q: QueryState, token: number, j: number, now: number): void {
  if (q.done || q.token !== token) return
  const params = s.params
  const target = s.agents[j]
  if (!target.online) {
    s.queue.push(now + params.network.dialFailureMs, { kind: 'attemptFailed', q, token, agent: j })
    return
  }
  const verdict = admitRemote({
    backlog: target.device.backlog,
    remoteQueued: target.device.remoteQueued,
    serviceMs: target.measuredServiceMs,
    ownerArrivalPerSec: target.ownerMeter.ratePerSec(now),
    ownSuccess: params.expertAdmission ? ownSuccessOf(s, target, q) : undefined
  }, { ownerWaitBoundMs: params.ownerWaitBoundMs ?? undefined, maxRemoteQueued: params.maxRemoteQueued ?? undefined })
  if (!verdict.admit) {
    q.messages++
    s.queue.push(now + rtt(s, q.user, j) / 2, { kind: 'refused', q, token, agent: j, backlog: target.device.backlog })
    return
  }
  enqueue(s, j, { query: q, remote: true, token, serviceMs: serviceTimeMs(params.device, target.tokensPerSec, q.outputTokens) }, now)
}

/** Agent `i` finished the job in service (unless `serviceToken` is stale): the owner's answer ends, a remote one travels back. */
export function onServiceEnd (s: SimState, i: number, serviceToken: number, now: number): void {
  const a = s.agents[i]
  const dev = a.device
  if (dev.serviceToken !== serviceToken || dev.current === undefined) return
  const job = dev.current
  dev.current = undefined
  const spent = now - dev.startedAt
  a.busyMs += spent
  a.served++
  // What the node measures of itself and beacons: an average of its service times.
  a.measuredServiceMs += (spent - a.measuredServiceMs) * 0.05
  s.board.setServiceMs(i, a.measuredServiceMs)
  const q = job.query
  if (!job.remote) {
    finish(s, q, LOCAL, now)
  } else if (!q.done && q.token === job.token) {
    q.messages++
    s.queue.push(now + rtt(s, q.user, i) / 2, { kind: 'answered', q, token: job.token, agent: i })
  }
  startService(s, i, now)
}
