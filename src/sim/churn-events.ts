/**
 * An agent leaving or joining the simulated network: a peer that leaves
 * stops beaconing, fails the remote requests it holds (their senders fall
 * back when the connection drops) and takes its own queries back to its
 * device; its next change of state is scheduled from the churn model.
 */
import { sessionLengthMs } from './churn.js'
import { attemptNext } from './attempts.js'
import { startService } from './serving.js'
import { drained, rtt, type SimState } from './world-setup.js'

/** Agent `i` goes offline if it was online, online if not. */
export function onChurn (s: SimState, i: number, now: number): void {
  const a = s.agents[i]
  a.online = !a.online
  s.onlineNow[i] = a.online ? 1 : 0
  if (!a.online) {
    s.offlineSince[i] = now
    s.board.silence(i)
    // Remote requests it held fail; their senders learn it when the connection drops.
    const dropped = a.device.dropRemote()
    const cur = a.device.current
    if (cur?.remote === true) {
      a.busyMs += now - a.device.startedAt
      a.device.current = undefined
      a.device.serviceToken++
      dropped.push(cur)
    }
    for (const job of dropped) {
      const q = job.query
      if (q.done || q.token !== job.token) continue
      s.queue.push(now + rtt(s, q.user, i) / 2, { kind: 'attemptFailed', q, token: job.token, agent: i })
    }
    // Its own queries out on the network come back to the device.
    for (const q of [...a.outstanding]) {
      a.outstanding.delete(q)
      q.failed++
      q.planPos = q.plan.length
      attemptNext(s, q, now)
    }
    startService(s, i, now)
  }
  if (!drained(s)) s.queue.push(now + sessionLengthMs(s.params.churn, a.online, a.churnRng), { kind: 'churn', agent: i })
}
