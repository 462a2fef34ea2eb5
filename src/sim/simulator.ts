/**
 * The discrete-event simulator (ARCHITECTURE.md §7): virtual time, seeded, one policy
 * per run over arrivals, questions, service times and churn that do not
 * depend on the policy, so every policy meets the same workload.
 *
 * What it models: per user, bursty Poisson arrivals and an own device serving
 * one request at a time, owner first; a round trip per pair of peers; load
 * beacons every `beaconPeriodMs` carried by gossip, so decisions rest on stale
 * load exactly as on a real node; owner-first admission with fast refusals
 * (core `admitRemote`); fallbacks to the next choice and finally the own
 * agent; churn, where a peer that leaves fails the requests it holds and
 * their senders fall back. What it does not model: deadlines on waiting
 * requests (a request admitted is served), profile updates while running.
 *
 * Decisions are made by the core: the router builds the context from
 * profiles, observations and beliefs, and the policy decides (the core's `Decider`, as on a node).
 *
 * The run in parts, one file each: `world-setup.ts` (the run's state and its
 * start), `event-loop.ts` (virtual time, beacons), `attempts.ts` (a query's
 * arrival, decision and attempts), `serving.ts` (admission and the devices),
 * `feedback.ts` (answers and what they teach), `churn-events.ts` (peers that
 * leave and join), `beacon-board.ts` (the beacons gossip delivers).
 */
import type { PolicyName } from '../core/types.js'
import { summarise } from '../results/metrics.js'
import { runEventLoop } from './event-loop.js'
import type { ProgressCallback, SimHooks, SimParams, SimRun, SimWorld } from './types.js'
import { setUpWorld } from './world-setup.js'

export type { ProgressCallback, SimAgentSpec, SimHooks, SimParams, SimRun, SimWorld } from './types.js'

/** Runs one policy over the world; deterministic for a given seed. */
export function simulate (world: SimWorld, params: SimParams, policy: PolicyName, onProgress?: ProgressCallback, hooks: SimHooks = {}): SimRun {
  const wallStarted = performance.now()
  const s = setUpWorld(world, params, policy, onProgress, hooks)
  runEventLoop(s)
  const busyMsPerAgent = Float64Array.from(s.agents, a => a.busyMs)
  const servedPerAgent = Float64Array.from(s.agents, a => a.served)
  const result = summarise(policy, s.log, { issued: s.issued, loadPerAgent: busyMsPerAgent, maxBacklog: s.maxBacklog })
  return { result, latencies: s.log.sortedLatencies(), busyMsPerAgent, servedPerAgent, virtualMs: s.lastTime, events: s.events, wallMs: performance.now() - wallStarted }
}
