/**
 * The owner's side of a query on the node (ARCHITECTURE.md, "A query's
 * path"): embed it, find candidates, let the core decider choose, then try
 * the chosen agent, the fallbacks and finally the own agent, each within
 * what is left of the deadline, so a query is answered or gets a clear error
 * in time. It remembers recent answers so that a rating reaches what served
 * them: the own profile, or the decider's observations of a peer.
 */
import { randomUUID } from 'node:crypto'
import { peerIdFromString } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import type { AgentBackend } from '../agent/backend.js'
import type { Decider } from '../core/decider.js'
import { observe } from '../core/prototypes.js'
import type { AsyncEmbedder, Decision, DecisionContext, Embedder, Profile, Rng } from '../core/types.js'
import type { Logger } from '../log.js'
import { type AnswerMemos, ownCopy } from './answer-memos.js'
import { AskError } from './ask-error.js'
import type { CandidateFinder } from './candidates.js'
import { QueryAttemptError, encodeRequest } from './query-client.js'
import type { QuerySessions } from './query-sessions.js'
import type { ServingQueue } from './serving-queue.js'
import type { AskOptions, AskResult, Attempt, DecisionRecord } from './service.js'

export interface QueryPathComponents {
  queue: ServingQueue
  backend: AgentBackend
  decider: Decider
  embedder: Embedder | AsyncEmbedder
  candidates: CandidateFinder
  sessions: QuerySessions
  answers: AnswerMemos
  /** Observed ratings of each peer's answers (the node's views and saved state read them). */
  ratings: Map<string, { sum: number, count: number }>
  /** The own profile as it is now (a rating of a local answer changes it). */
  profile: () => Profile
  /** The own profile changed: republish it in time. */
  profileChanged: () => void
  /** A routed query's decision and outcome, for the decision log. */
  onDecision: (record: DecisionRecord) => void
  /** Called after each rating is learnt. */
  onLearn?: () => void
  rng: Rng
  /** Aborted when the node stops. */
  signal: AbortSignal
  isStopped: () => boolean
  log: Logger
}

/** The query path's settings, defaults resolved (NODE_DEFAULTS). */
export interface QueryPathInit {
  defaultDeadlineMs: number
  lookupTimeoutMs: number
  latencyWeight: number
  attemptTimeoutMs: number
  attemptPatience: number
  minAttemptMs: number
}

export class QueryPath {
  /** The owner's queries: asked, served by a peer, failed. */
  readonly asked = { total: 0, delegated: 0, failed: 0 }
  /** Owner's queries the own agent answered. */
  servedLocally = 0
  private readonly peerIdCache = new Map<string, PeerId>()

  constructor (private readonly components: QueryPathComponents, private readonly init: QueryPathInit) {}

  async ask (question: string, opts: AskOptions = {}): Promise<AskResult> {
    const { components: c, init } = this
    if (c.isStopped()) throw new AskError('stopped', 'the node is stopping')
    if (question.trim() === '') throw new AskError('bad-request', 'empty question')
    const t0 = Date.now()
    const deadline = t0 + (opts.deadlineMs ?? init.defaultDeadlineMs)
    const id = opts.id ?? randomUUID()
    // Only routing needs the embedding now; a forced query (local, peer:) is embedded if and when it is rated.
    const model = opts.model ?? 'ppai'
    const signal = opts.signal == null ? c.signal : AbortSignal.any([opts.signal, c.signal])
    this.asked.total++
    const embedding = model === 'local' || model.startsWith('peer:') ? undefined : await this.embedQuery(question, signal)
    const attempts: Attempt[] = []

    let decision: Decision | undefined
    let record: DecisionRecord | undefined
    let order: string[]
    if (model === 'local') {
      order = ['local']
    } else if (model.startsWith('peer:')) {
      const target = model.slice('peer:'.length)
      try {
        this.parsePeerId(target)
      } catch {
        this.asked.failed++
        throw new AskError('bad-request', `not a peer id: ${target}`)
      }
      try {
        encodeRequest({ id, question }, 1)
      } catch (err) {
        // Only the own agent could take it: the asker named a peer, so say so instead of failing the attempt.
        this.asked.failed++
        throw new AskError('bad-request', `the question is too large to send to a peer: ${(err as Error).message}; ask model 'local' or 'ppai' instead`)
      }
      order = [target]
    } else {
      if (embedding == null) throw new AskError('bad-request', `not a routed model: ${model}`)
      const candidates = await c.candidates.find(embedding, Math.min(init.lookupTimeoutMs, Math.max(50, (deadline - Date.now()) / 4)))
      // The decision log keeps what the policy saw of each candidate.
      let seen: DecisionContext['candidates'] = []
      decision = c.decider.decide({
        now: Date.now(),
        queryId: id,
        embedding,
        local: { profile: c.profile(), backlog: c.queue.backlog, serviceMs: c.queue.serviceMs },
        candidates,
        latencyWeight: init.latencyWeight,
        rng: c.rng
      }, ctx => { seen = ctx.candidates })
      order = [decision.action, ...decision.fallbacks.filter(a => a !== decision?.action), 'local']
      order = order.filter((a, i) => order.indexOf(a) === i)
      const byId = new Map(decision.explanation.map(e => [e.action, e]))
      record = {
        id,
        at: t0,
        question: ownCopy(question, 500),
        candidates: seen.map(s => ({
          id: s.id,
          success: s.success.mean,
          believedBacklog: s.backlog.mean,
          probability: byId.get(s.id)?.probability ?? 0,
          utility: byId.get(s.id)?.utility ?? 0
        })),
        decision
      }
    }

    const finish = (servedBy: string, answer: string): AskResult => {
      c.candidates.runAfterQuery()
      const latencyMs = Date.now() - t0
      c.answers.add(id, question, embedding, servedBy)
      if (servedBy !== 'local') this.asked.delegated++
      if (record != null) {
        record.outcome = { servedBy, status: 'ok', latencyMs, attempts }
        c.onDecision(record)
      }
      return { id, question, answer, servedBy, decision, attempts, latencyMs }
    }
    const fail = (err: AskError): never => {
      c.candidates.runAfterQuery()
      this.asked.failed++
      if (record != null) {
        record.outcome = { servedBy: 'none', status: 'error', latencyMs: Date.now() - t0, attempts }
        c.onDecision(record)
      }
      throw err
    }

    // A streamed answer belongs to the agent whose first piece reached the asker: after that a failure ends the
    // query, since a fallback would append a second answer to part of the first.
    let streamedBy: string | undefined
    const tokensOf = (action: string): ((text: string) => void) | undefined => {
      const onToken = opts.onToken
      return onToken == null ? undefined : text => { streamedBy ??= action; onToken(text) }
    }

    for (const action of order) {
      if (signal.aborted) fail(new AskError(c.isStopped() ? 'stopped' : 'aborted', 'query aborted', attempts))
      const remaining = deadline - Date.now()
      if (remaining <= 0) break
      if (action === 'local') {
        const started = Date.now()
        try {
          const answer = await this.answerLocally(id, question, remaining, signal, tokensOf('local'))
          attempts.push({ action: 'local', status: 'ok', latencyMs: Date.now() - started })
          this.servedLocally++
          return finish('local', answer)
        } catch (err) {
          const timedOut = Date.now() >= deadline
          attempts.push({ action: 'local', status: timedOut ? 'timeout' : 'error', latencyMs: Date.now() - started, error: (err as Error).message })
          fail(new AskError(timedOut ? 'deadline' : signal.aborted ? 'aborted' : 'local-failed', `local agent: ${(err as Error).message}`, attempts))
        }
      }
      // Keep enough time for the local agent to answer if this peer fails (not when the peer was forced).
      const forced = model !== 'ppai'
      const reserve = forced ? 0 : Math.min(remaining / 2, c.queue.serviceMs * (c.queue.backlog + 1))
      // A routed attempt may take a few times what the policy expected of it, then the next choice gets its turn.
      const expected = decision?.explanation.find(e => e.action === action)?.expectedLatencyMs
      const patience = forced || expected == null || !Number.isFinite(expected) ? Number.POSITIVE_INFINITY : Math.max(init.minAttemptMs, init.attemptPatience * expected)
      const timeoutMs = Math.max(50, Math.min(init.attemptTimeoutMs, patience, remaining - reserve))
      const outcome = await this.tryPeer(action, id, question, timeoutMs, signal, tokensOf(action))
      attempts.push(outcome.attempt)
      if (outcome.answer != null) return finish(action, outcome.answer)
      if (streamedBy != null) fail(new AskError(signal.aborted ? 'aborted' : 'interrupted', `peer ${action} broke off its streamed answer: ${outcome.attempt.error ?? outcome.attempt.status}`, attempts))
    }
    if (model.startsWith('peer:')) fail(new AskError('peer-failed', `peer ${order[0]} did not answer: ${attempts.at(-1)?.error ?? attempts.at(-1)?.status ?? 'no attempt'}`, attempts))
    return fail(new AskError('deadline', `no answer within the deadline (${attempts.length} attempts)`, attempts))
  }

  /** A rating of a recent answer: false when the answer is not (or no longer) remembered. */
  feedback (answerId: string, rating: number): boolean {
    const { answers, embedder } = this.components
    const memo = answers.get(answerId)
    if (memo == null || !Number.isFinite(rating)) return false
    const outcome = Math.min(1, Math.max(0, rating))
    memo.rated = true
    if (memo.embedding == null && 'embed' in embedder) answers.embedded(answerId, embedder.embed(memo.question ?? ''))
    if (memo.embedding != null) {
      this.learn(memo.servedBy, memo.embedding, outcome)
      return true
    }
    // A forced query is embedded only now; by a model server, so the rating counts once its vector arrives.
    void (embedder as AsyncEmbedder).embedAsync(memo.question ?? '', this.components.signal).then(
      embedding => {
        answers.embedded(answerId, embedding)
        if (!this.components.isStopped()) this.learn(memo.servedBy, embedding, outcome)
      },
      err => this.components.log.warn({ answerId, err: (err as Error).message }, 'feedback not learnt: cannot embed the question')
    )
    return true
  }

  /** A rated answer of `servedBy` near `embedding`: the own profile learns, or the decider's observations of the peer. */
  private learn (servedBy: string, embedding: Float32Array, outcome: number): void {
    const c = this.components
    if (servedBy === 'local') {
      observe(c.profile(), embedding, outcome)
      c.profileChanged()
    } else {
      c.decider.recordAnswer(servedBy, embedding, outcome)
      const r = c.ratings.get(servedBy) ?? { sum: 0, count: 0 }
      r.sum += outcome
      r.count++
      c.ratings.set(servedBy, r)
    }
    c.onLearn?.()
  }

  private async answerLocally (id: string, question: string, remainingMs: number, signal: AbortSignal, onToken?: (text: string) => void): Promise<string> {
    const controller = new AbortController()
    const timer = setTimeout(() => controller.abort(new Error('deadline passed')), remainingMs)
    const onAbort = (): void => controller.abort(new Error('aborted'))
    signal.addEventListener('abort', onAbort, { once: true })
    try {
      const served = await this.components.queue.submit('owner', async s => await this.components.backend.answer({ id, question, signal: s, onToken }), controller.signal)
      return served.value.text
    } finally {
      clearTimeout(timer)
      signal.removeEventListener('abort', onAbort)
    }
  }

  private async tryPeer (peer: string, id: string, question: string, timeoutMs: number, signal: AbortSignal, onChunk?: (text: string) => void): Promise<{ attempt: Attempt, answer?: string }> {
    const c = this.components
    const started = Date.now()
    let peerId: PeerId
    try {
      peerId = this.parsePeerId(peer)
    } catch {
      return { attempt: { action: peer, status: 'error', latencyMs: 0, error: 'not a peer id' } }
    }
    try {
      const res = await c.sessions.query(peerId, { id, question }, { timeoutMs, signal, onChunk })
      const latencyMs = Date.now() - started
      const now = Date.now()
      if (res.status === 'ok') {
        const rtt = Math.max(0, latencyMs - res.queuedMs - res.workMs)
        c.candidates.answered(peer, rtt)
        c.decider.hearResponse(peer, { latencyMs, rttMs: rtt }, now)
        return { attempt: { action: peer, status: 'ok', latencyMs }, answer: res.answer }
      }
      if (res.status === 'busy') {
        c.decider.hearRefusal(peer, res.backlog, now)
        return { attempt: { action: peer, status: 'busy', latencyMs, error: res.reason } }
      }
      return { attempt: { action: peer, status: 'error', latencyMs, error: `${res.code}: ${res.message}` } }
    } catch (err) {
      const latencyMs = Date.now() - started
      const kind = err instanceof QueryAttemptError ? err.kind : 'stream'
      if (kind !== 'aborted' && kind !== 'too-large') c.candidates.failed(peer, kind === 'dial')
      return { attempt: { action: peer, status: kind === 'timeout' ? 'timeout' : 'error', latencyMs, error: (err as Error).message } }
    }
  }

  /** The query's vector; an async embedder's failure fails the query with its message (the node stays up). */
  private async embedQuery (question: string, signal: AbortSignal): Promise<Float32Array> {
    const { embedder } = this.components
    if ('embed' in embedder) return embedder.embed(question)
    try {
      return await embedder.embedAsync(question, signal)
    } catch (err) {
      this.asked.failed++
      if (signal.aborted) throw new AskError(this.components.isStopped() ? 'stopped' : 'aborted', 'query aborted while embedding it')
      throw new AskError('embedder-failed', `cannot embed the query: ${(err as Error).message}`)
    }
  }

  /** A peer id from its string, cached: decoding base58 and the key on every delegated query is measurable CPU. Throws on a bad id. */
  private parsePeerId (id: string): PeerId {
    let peerId = this.peerIdCache.get(id)
    if (peerId == null) {
      peerId = peerIdFromString(id)
      // Bounded: a network's worth of peers; cleared rather than tracked when exceeded.
      if (this.peerIdCache.size >= 4096) this.peerIdCache.clear()
      this.peerIdCache.set(id, peerId)
    }
    return peerId
  }
}
