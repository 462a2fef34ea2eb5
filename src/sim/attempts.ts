/**
 * A simulated query's side of the run (ARCHITECTURE.md §8): its arrival, the
 * owner's decision through the core's `Decider` (fed the beacons gossip has
 * delivered), and the attempts of its plan — each remote try, a refusal or a
 * failure moving on to the next, and finally the own agent.
 */
import type { DecisionContext, OracleView } from '../core/types.js'
import { outputTokens, serviceTimeMs } from './device.js'
import { enqueue } from './serving.js'
import { listed, LOCAL, rtt, type AgentState, type QueryState, type SimState } from './world-setup.js'

/** Owner `i` asks a question at `now`: its next arrival is scheduled, a plan decided and the first attempt sent. */
export function onArrival (s: SimState, i: number, now: number): void {
  const params = s.params
  // Other users' next arrivals are still scheduled when the count is reached.
  if (s.issued >= params.queries) return
  const a = s.agents[i]
  const qRng = a.arrivalRng
  const question = s.world.pool.draw(a.spec.interests, params.ownInterestShare, qRng)
  const q: QueryState = {
    index: s.issued,
    user: i,
    question,
    embedding: s.world.embed(question),
    arrivedAt: now,
    plan: [],
    planPos: 0,
    token: 0,
    at: LOCAL,
    sentAt: now,
    outputTokens: outputTokens(params.device, qRng()),
    refused: 0,
    failed: 0,
    messages: 0,
    done: false
  }
  s.issued++
  s.lastArrivalAt = now
  if (s.issued < params.queries) s.queue.push(a.arrivals.next(now), { kind: 'arrival', user: i })
  if (a.online && s.N > 1) q.plan = decidePlan(s, q, now)
  q.plan.push(LOCAL)
  attemptNext(s, q, now)
}

/** Hands owner `user`'s decider the beacons of `peers` that gossip has delivered by `now`. */
function feedBeacons (s: SimState, user: number, peers: Iterable<number>, now: number): void {
  const d = s.agents[user].decider
  const gossip = s.params.network.gossipDelayMs
  for (const j of peers) {
    if (j === user) continue
    const b = s.board.delivered(j, now)
    if (b !== undefined) d.hearBeacon(b, b.sentAt + gossip)
  }
}

/** The owner's decision for `q`: the remote agents to try, in order (the own agent comes after them). */
function decidePlan (s: SimState, q: QueryState, now: number): number[] {
  const params = s.params
  const user = s.agents[q.user]
  const ranked = s.world.retrieve(q.question, q.user)
  const chosen: number[] = []
  for (const j of ranked) {
    if (chosen.length >= params.candidatesPerQuery) break
    if (j === q.user || !listed(s, j, now)) continue
    const until = user.backoff.get(j)
    if (until !== undefined) {
      if (until > now) continue
      user.backoff.delete(j)
    }
    chosen.push(j)
  }
  const scan = s.scan
  for (let n = 0; n < chosen.length; n++) {
    scan.ids[n] = s.agentIds[chosen[n]]
    scan.agents[n] = chosen[n]
  }
  // (Only when ids are unique: the map and the scan must give one index per id.)
  scan.count = s.idIndex.size === s.N ? chosen.length : 0
  if (params.beaconScope === 'all') feedBeacons(s, q.user, s.agentIndexes, now)
  else feedBeacons(s, q.user, chosen, now)
  const candidates = s.candidateInputs
  const pool = s.candidatePool
  candidates.length = chosen.length
  for (let n = 0; n < chosen.length; n++) {
    const j = chosen[n]
    if (n === pool.length) pool.push({ id: '', profile: s.agentProfiles[j], rttMs: 0 })
    const c = pool[n]
    c.id = s.agentIds[j]
    c.profile = s.agentProfiles[j]
    c.rttMs = rtt(s, q.user, j)
    candidates[n] = c
  }
  const local = s.localInput ??= { profile: user.ownProfile, backlog: 0, serviceMs: 0 }
  local.profile = user.ownProfile
  local.backlog = user.device.backlog
  local.serviceMs = user.measuredServiceMs
  // The truth is wrapped only for those who may see it: the oracle and the hooks.
  let oracle: OracleView | undefined
  let inspect: ((ctx: DecisionContext) => void) | undefined
  if (s.policy === 'oracle' || s.hooks.onDecision !== undefined) {
    const agentOf = (id: string): AgentState => s.agents[id === 'local' ? q.user : (s.idIndex.get(id) ?? q.user)]
    const trueBacklog = (id: string): number => agentOf(id).device.backlog
    if (s.policy === 'oracle') oracle = { trueSuccess: id => agentOf(id).spec.model.successProbability(q.question), trueBacklog }
    const onDecision = s.hooks.onDecision
    if (onDecision !== undefined) inspect = ctx => { onDecision(ctx, trueBacklog) }
  }
  const decision = user.decider.decide({
    now,
    queryId: `q${q.index}`,
    embedding: q.embedding,
    local,
    candidates,
    latencyWeight: params.latencyWeight,
    rng: s.policyRng,
    oracle
  }, inspect)
  const plan: number[] = []
  for (let n = -1; n < decision.fallbacks.length; n++) {
    const action = n < 0 ? decision.action : decision.fallbacks[n]
    if (action === 'local') break
    const j = s.idIndex.get(action)
    if (j !== undefined && !plan.includes(j)) plan.push(j)
    if (plan.length >= params.maxRemoteAttempts) break
  }
  return plan
}

/** Sends the query to the next agent of its plan (or the own agent). */
export function attemptNext (s: SimState, q: QueryState, now: number): void {
  const user = s.agents[q.user]
  q.token++
  while (q.planPos < q.plan.length) {
    const target = q.plan[q.planPos++]
    if (target === LOCAL || !user.online) break
    q.at = target
    q.sentAt = now
    q.messages++
    user.outstanding.add(q)
    if (!s.agents[target].online) {
      // Its records have not expired yet: the dial fails after a while.
      s.queue.push(now + s.params.network.dialFailureMs, { kind: 'attemptFailed', q, token: q.token, agent: target })
    } else {
      s.queue.push(now + rtt(s, q.user, target) / 2, { kind: 'request', q, token: q.token, agent: target })
    }
    return
  }
  q.at = LOCAL
  user.outstanding.delete(q)
  enqueue(s, q.user, { query: q, remote: false, token: q.token, serviceMs: serviceTimeMs(s.params.device, user.tokensPerSec, q.outputTokens) }, now)
}

/** Agent `j` refused `q` as busy, reporting `backlog`: the decider learns it, the next attempt goes. */
export function onRefused (s: SimState, q: QueryState, token: number, j: number, backlog: number, now: number): void {
  if (q.done || q.token !== token) return
  q.refused++
  s.agents[q.user].decider.hearRefusal(s.agentIds[j], backlog, now)
  attemptNext(s, q, now)
}

/** The attempt of `q` at agent `j` failed (gone, or it left): `j` is avoided a while, the next attempt goes. */
export function onAttemptFailed (s: SimState, q: QueryState, token: number, j: number, now: number): void {
  if (q.done || q.token !== token) return
  q.failed++
  s.agents[q.user].backoff.set(j, now + s.params.failureBackoffMs)
  attemptNext(s, q, now)
}
