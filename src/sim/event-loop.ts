/**
 * The simulator's event loop: events in virtual-time order, each handed to
 * its part of the run (attempts, serving, feedback, churn), and the beacons.
 *
 * Beacons are strictly periodic, one phase per agent, so they keep their
 * phase order for the whole run: they are taken from a wheel in that order
 * instead of the heap (same times, same order; half the events never touch
 * the heap).
 */
import { onArrival, onAttemptFailed, onRefused } from './attempts.js'
import { onChurn } from './churn-events.js'
import { onAnswered } from './feedback.js'
import { onRequest, onServiceEnd } from './serving.js'
import { drained, type SimEvent, type SimState } from './world-setup.js'

/** Runs events until every query is answered, or the drain limit after the last arrival passes. */
export function runEventLoop (s: SimState): void {
  const { N, queue, params, beaconAt } = s
  const beaconOrder = Int32Array.from(s.agentIndexes).sort((x, y) => beaconAt[x] - beaconAt[y] || x - y)
  let beaconPos = 0
  while (true) {
    const nextBeaconAt = N > 0 ? beaconAt[beaconOrder[beaconPos]] : Infinity
    let e: SimEvent | undefined
    let now: number
    // At the same instant (measure zero with continuous times) the other event goes first.
    if (queue.size > 0 && queue.peekTime() <= nextBeaconAt) {
      e = queue.popEvent()
      now = queue.poppedTime
    } else if (N > 0) {
      e = undefined
      now = nextBeaconAt
    } else {
      break
    }
    if (s.issued >= params.queries && now > s.lastArrivalAt + params.drainLimitMs) break
    s.events++
    if (e === undefined) {
      const i = beaconOrder[beaconPos]
      if (s.onlineNow[i] === 1) s.board.send(i, now)
      beaconAt[i] = now + params.beaconPeriodMs
      beaconPos = beaconPos + 1 === N ? 0 : beaconPos + 1
    } else {
      switch (e.kind) {
        case 'arrival': onArrival(s, e.user, now); break
        case 'request': onRequest(s, e.q, e.token, e.agent, now); break
        case 'refused': onRefused(s, e.q, e.token, e.agent, e.backlog, now); break
        case 'answered': onAnswered(s, e.q, e.token, e.agent, now); break
        case 'attemptFailed': onAttemptFailed(s, e.q, e.token, e.agent, now); break
        case 'serviceEnd': onServiceEnd(s, e.agent, e.serviceToken, now); break
        case 'churn': onChurn(s, e.agent, now); break
      }
    }
    if (drained(s)) break
    s.lastTime = now
  }
}
