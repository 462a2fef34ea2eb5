/**
 * How well a built world's profiles say where each agent is good, without
 * load: the own agent's predicted success on its owner's questions against
 * the others (AUC), and the accuracy of routing each owner's questions to the
 * best-scored agent against staying local and against the best agent by true
 * skill. The questions are the held-out ones the run asks; nothing is fitted here.
 */
import { buildDecisionContext } from '../core/router.js'
import { LoadBeliefs } from '../core/beliefs.js'
import { seededRng } from '../core/rng.js'
import { PeerObservations, type CandidateScoringOptions } from '../core/scoring.js'
import type { Question } from '../data/questions.js'
import type { SimWorld } from '../sim/simulator.js'

export interface RoutingQuality {
  /** Pairs (agent, question) scored. */
  pairs: number
  /** P(own score of an owner's-interest question > own score of another question), ties half. */
  ownAuc: number
  /** Mean own predicted success on the owner's-interest questions and on the others, and the true rates. */
  ownPredictedIn: number
  ownPredictedOut: number
  ownTrueIn: number
  ownTrueOut: number
  /** No-load accuracy of each owner's own questions: local, the best-scored of own + retrieved candidates, the truly best of those. */
  local: number
  bestScored: number
  bestTrue: number
  /** The same, a candidate chosen only when its score beats the own agent's by `margin` (as ppai's winner's-curse margin asks): accuracy and share delegated. */
  bestScoredAtMargin: Array<{ margin: number, accuracy: number, delegated: number }>
}

/** The margins {@link routingQuality} reports the best-scored choice at. */
export const QUALITY_MARGINS = [0.05, 0.1, 0.15] as const

/** Measures {@link RoutingQuality} over up to `perAgent` asks of each of up to `agents` agents (their owners' mix). */
export function routingQuality (world: SimWorld, opts: { agents?: number, perAgent?: number, ownInterestShare: number, candidates: number, seed: number, scoring?: CandidateScoringOptions }): RoutingQuality {
  const rng = seededRng(`routing-quality|${opts.seed}`)
  const n = Math.min(world.agents.length, opts.agents ?? 50)
  const per = opts.perAgent ?? 100
  const scoresIn: number[] = []
  const scoresOut: number[] = []
  let trueIn = 0
  let trueOut = 0
  let local = 0
  let bestScored = 0
  let bestTrue = 0
  const atMargin = QUALITY_MARGINS.map(margin => ({ margin, right: 0, delegated: 0 }))
  let asks = 0
  const beliefs = new LoadBeliefs()
  for (let i = 0; i < n; i++) {
    const a = world.agents[i]
    const interests = new Set(a.interests)
    const observations = new PeerObservations(world.embedderId, world.dim)
    for (let k = 0; k < per; k++) {
      const q: Question = world.pool.draw(a.interests, opts.ownInterestShare, rng)
      const e = world.embed(q)
      const ids = world.retrieve(q, i).filter(j => j !== i).slice(0, opts.candidates)
      const ctx = buildDecisionContext({
        now: 0,
        queryId: q.id,
        embedding: e,
        local: { profile: a.profile, backlog: 0, serviceMs: 1000 },
        candidates: ids.map(j => ({ id: String(j), profile: world.agents[j].profile, rttMs: 0 })),
        beliefs,
        observations,
        latencyWeight: 0,
        rng,
        scoring: opts.scoring
      })
      const own = ctx.local.success.mean
      const right = a.model.correct(q) ? 1 : 0
      if (interests.has(q.subject)) { scoresIn.push(own); trueIn += right } else { scoresOut.push(own); trueOut += right }
      local += right
      let best = -1
      let bestMean = own
      for (let c = 0; c < ctx.candidates.length; c++) if (ctx.candidates[c].success.mean > bestMean) { bestMean = ctx.candidates[c].success.mean; best = c }
      const bestRight = best < 0 ? right : (world.agents[Number(ctx.candidates[best].id)].model.correct(q) ? 1 : 0)
      bestScored += bestRight
      for (const m of atMargin) {
        const away = best >= 0 && bestMean > own + m.margin
        m.right += away ? bestRight : right
        if (away) m.delegated++
      }
      let top = a.model.successProbability(q)
      for (const j of ids) top = Math.max(top, world.agents[j].model.successProbability(q))
      bestTrue += top
      asks++
    }
  }
  return {
    pairs: asks,
    ownAuc: auc(scoresIn, scoresOut),
    ownPredictedIn: mean(scoresIn),
    ownPredictedOut: mean(scoresOut),
    ownTrueIn: trueIn / Math.max(1, scoresIn.length),
    ownTrueOut: trueOut / Math.max(1, scoresOut.length),
    local: local / asks,
    bestScored: bestScored / asks,
    bestTrue: bestTrue / asks,
    bestScoredAtMargin: atMargin.map(m => ({ margin: m.margin, accuracy: m.right / asks, delegated: m.delegated / asks }))
  }
}

function mean (xs: readonly number[]): number {
  return xs.length === 0 ? NaN : xs.reduce((s, x) => s + x, 0) / xs.length
}

/** Mann–Whitney AUC of `pos` over `neg` (ties count half). */
export function auc (pos: readonly number[], neg: readonly number[]): number {
  if (pos.length === 0 || neg.length === 0) return NaN
  const all = [...pos.map(x => ({ x, p: 1 })), ...neg.map(x => ({ x, p: 0 }))].sort((a, b) => a.x - b.x)
  let rankSum = 0
  for (let i = 0; i < all.length;) {
    let j = i
    while (j < all.length && all[j].x === all[i].x) j++
    const r = (i + j + 1) / 2
    for (let k = i; k < j; k++) if (all[k].p === 1) rankSum += r
    i = j
  }
  return (rankSum - pos.length * (pos.length + 1) / 2) / (pos.length * neg.length)
}
