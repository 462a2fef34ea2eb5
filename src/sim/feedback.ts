/**
 * What a simulated owner learns when a query ends (ARCHITECTURE.md §8, step
 * 5): the outcome is logged, a peer's answer is rated into the decider's
 * observations of that peer, the own agent's answer teaches the own profile.
 */
import { observe } from '../core/prototypes.js'
import { LOCAL, rtt, type QueryState, type SimState } from './world-setup.js'

/** Query `q` is answered at `now` by `servedBy` (an agent index, or LOCAL). */
export function finish (s: SimState, q: QueryState, servedBy: number, now: number): void {
  if (q.done) return
  q.done = true
  s.answered++
  const model = s.agents[servedBy === LOCAL ? q.user : servedBy].spec.model
  const correct = model.correct(q.question)
  s.log.add({
    latencyMs: now - q.arrivedAt,
    correct,
    refused: q.refused,
    failed: q.failed,
    messages: q.messages,
    servedBy: servedBy === LOCAL ? 'local' : s.agentIds[servedBy]
  })
  s.hooks.onAnswer?.({ user: q.user, servedBy: servedBy === LOCAL ? q.user : servedBy, question: q.question, correct })
  if (servedBy !== LOCAL) s.agents[q.user].decider.recordAnswer(s.agentIds[servedBy], q.embedding, correct ? 1 : 0)
  else if (s.params.learnDuringRun) observe(s.agents[q.user].ownProfile, q.embedding, correct ? 1 : 0)
  if (s.onProgress !== undefined && s.answered % s.progressEvery === 0) s.onProgress(s.answered, s.params.queries)
}

/** Agent `j`'s answer to `q` reached its owner: the response time is evidence of `j`'s backlog. */
export function onAnswered (s: SimState, q: QueryState, token: number, j: number, now: number): void {
  if (q.done || q.token !== token) return
  const user = s.agents[q.user]
  user.outstanding.delete(q)
  user.decider.hearResponse(s.agentIds[j], { latencyMs: now - q.sentAt, rttMs: rtt(s, q.user, j) }, now)
  finish(s, q, j, now)
}
