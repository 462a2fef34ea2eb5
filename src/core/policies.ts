/**
 * Routing policies: PPAI and every baseline, as values of one interface
 * ({@link RoutingPolicy}), so that the simulator and the node compare them
 * with a loop. Each decision says what it chose, where to fall back, and why.
 *
 * Pure: randomness only from `ctx.rng`, time only from `ctx.now`.
 */
import { ReasonError } from './errors.js'
import { equilibriumStrategy, LOCAL, type Equilibrium, type GameType } from './game.js'
import { shuffled } from './rng.js'
import type { ActionExplanation, ActionId, Candidate, Decision, DecisionContext, PolicyName, RoutingPolicy } from './types.js'
import { POLICY_NAMES } from './types.js'

/** Settings of the policies; each policy reads only its own. */
export interface PolicyOptions {
  /** ppai: logit noise of the equilibrium, utility units. Default 0.02. */
  temperature?: number
  /**
   * ppai: optimism bonus in standard deviations of the success estimate (UCB),
   * scaled by `newcomerEvidence / (newcomerEvidence + evidence)`: a genuinely
   * new agent (no profile, no answers) gets the full bonus, one with a profile
   * or answers behind its score hardly any. Default 0.5.
   */
  exploration?: number
  /** ppai: evidence (pseudo-observations) at which the exploration bonus is halved. Default 1. */
  newcomerEvidence?: number
  /** ppai: weight of the caller's own type in the prior over players' types. Default 0.5. */
  ownTypeWeight?: number
  /** ppai: how much a rival's query may favour one candidate over the caller's scores (see {@link typePrior}). Default 0.1. */
  querySpread?: number
  /**
   * ppai: how far apart the predicted successes of agents equally good on a
   * query lie (sd, success units). The best of C such scores beats the own
   * agent's by about `selectionNoise·√(2 ln(1 + C))` by chance alone (the
   * winner's curse), so every candidate's score is lowered by that before the
   * game: a peer is chosen for its expertise only when it is better with
   * confidence. Default 0.05 (the spread between same-domain agents' scores in the paper world, seed 1).
   */
  selectionNoise?: number
  /** power-of-two: the two are drawn from the top K candidates by score. Default 4. */
  topK?: number
}

/** Why a policy could not decide. */
export type PolicyErrorReason = 'unknown-policy' | 'no-oracle'

/** A policy that cannot be built or cannot decide; `reason` is countable. */
export class PolicyError extends ReasonError<PolicyErrorReason> {}

/** Expected latency of a remote candidate with its believed backlog, ms: round trip + (backlog + 1) services. */
export function candidateLatencyMs (c: Candidate): number {
  return c.rttMs + (Math.max(0, c.backlog.mean) + 1) * c.serviceMs
}

/** Expected latency on the own agent, ms. */
export function localLatencyMs (ctx: DecisionContext): number {
  return (Math.max(0, ctx.local.backlog) + 1) * ctx.local.serviceMs
}

/** Builds the named policy. Throws {@link PolicyError} (`unknown-policy`) for a name not in `POLICY_NAMES`. */
export function createPolicy (name: PolicyName, opts: PolicyOptions = {}): RoutingPolicy {
  switch (name) {
    case 'ppai': return ppaiPolicy(opts)
    case 'local-only': return { name, decide: decideLocalOnly }
    case 'random': return { name, decide: decideRandom }
    case 'greedy': return { name, decide: decideGreedy }
    case 'least-loaded': return { name, decide: decideLeastLoaded }
    case 'power-of-two': return powerOfTwoPolicy(opts.topK ?? 4)
    case 'oracle': return { name, decide: decideOracle }
    default: throw new PolicyError('unknown-policy', `unknown policy ${String(name)}; one of ${POLICY_NAMES.join(', ')}`)
  }
}

/**
 * The explanation of every action from the believed state: success, expected
 * latency, utility `p − λ·E[T]`; `probability` from `probabilityOf`.
 */
function explainAll (ctx: DecisionContext, probabilityOf: (action: ActionId) => number): ActionExplanation[] {
  const lambda = ctx.latencyWeight
  const localMs = localLatencyMs(ctx)
  const out: ActionExplanation[] = [{
    action: LOCAL,
    probability: probabilityOf(LOCAL),
    success: ctx.local.success.mean,
    expectedLatencyMs: localMs,
    utility: ctx.local.success.mean - lambda * localMs / 1000
  }]
  for (const c of ctx.candidates) {
    const ms = candidateLatencyMs(c)
    out.push({ action: c.id, probability: probabilityOf(c.id), success: c.success.mean, expectedLatencyMs: ms, utility: c.success.mean - lambda * ms / 1000 })
  }
  return out
}

function onlyIf (chosen: ActionId): (action: ActionId) => number {
  return action => action === chosen ? 1 : 0
}

/** Candidate ids other than `chosen`, in the given order. */
function othersInOrder (ordered: readonly Candidate[], chosen: ActionId): ActionId[] {
  return ordered.filter(c => c.id !== chosen).map(c => c.id)
}

function bySuccessDesc (a: Candidate, b: Candidate): number {
  return b.success.mean - a.success.mean
}

function decideLocalOnly (ctx: DecisionContext): Decision {
  return {
    policy: 'local-only',
    action: LOCAL,
    fallbacks: [],
    explanation: explainAll(ctx, onlyIf(LOCAL)),
    reason: 'local-only: every query stays on the own agent'
  }
}

function decideRandom (ctx: DecisionContext): Decision {
  if (ctx.candidates.length === 0) return noCandidates('random', ctx)
  const order = shuffled(ctx.candidates, ctx.rng)
  const chosen = order[0].id
  const n = ctx.candidates.length
  return {
    policy: 'random',
    action: chosen,
    fallbacks: othersInOrder(order, chosen),
    explanation: explainAll(ctx, a => a === LOCAL ? 0 : 1 / n),
    reason: `random: ${chosen}, drawn uniformly from ${n} candidates`
  }
}

/** The highest predicted success, the own agent included, load ignored. */
function decideGreedy (ctx: DecisionContext): Decision {
  const ordered = ctx.candidates.slice().sort(bySuccessDesc)
  const best = ordered[0]
  const chosen = best !== undefined && best.success.mean > ctx.local.success.mean ? best.id : LOCAL
  const success = chosen === LOCAL ? ctx.local.success.mean : best.success.mean
  return {
    policy: 'greedy',
    action: chosen,
    fallbacks: othersInOrder(ordered, chosen),
    explanation: explainAll(ctx, onlyIf(chosen)),
    reason: `greedy: ${chosen} has the highest predicted success (${success.toFixed(3)}); load ignored`
  }
}

/** The lowest believed backlog (the last beacon as the router carried it forward), success ignored: herds on a stale snapshot. */
function decideLeastLoaded (ctx: DecisionContext): Decision {
  if (ctx.candidates.length === 0) return noCandidates('least-loaded', ctx)
  // Ties (equal beacons) go to the better-scored candidate.
  const ordered = ctx.candidates.slice().sort((a, b) => a.backlog.mean - b.backlog.mean || bySuccessDesc(a, b))
  const chosen = ordered[0]
  return {
    policy: 'least-loaded',
    action: chosen.id,
    fallbacks: othersInOrder(ordered, chosen.id),
    explanation: explainAll(ctx, onlyIf(chosen.id)),
    reason: `least-loaded: ${chosen.id} has the lowest believed backlog (${chosen.backlog.mean.toFixed(2)}, ${formatAge(chosen.backlog.ageMs)})`
  }
}

function powerOfTwoPolicy (topK: number): RoutingPolicy {
  const k = Math.max(1, Math.floor(topK))
  return {
    name: 'power-of-two',
    decide (ctx: DecisionContext): Decision {
      if (ctx.candidates.length === 0) return noCandidates('power-of-two', ctx)
      const byScore = ctx.candidates.slice().sort(bySuccessDesc)
      const top = byScore.slice(0, k)
      // Rank by load (ties: score); of two drawn, the better-ranked wins.
      const loadRank = top.slice().sort((a, b) => a.backlog.mean - b.backlog.mean || bySuccessDesc(a, b))
      const pair = shuffled(top, ctx.rng).slice(0, 2)
      const chosen = pair.length < 2 || loadRank.indexOf(pair[0]) < loadRank.indexOf(pair[1]) ? pair[0] : pair[1]
      const other = pair.find(c => c !== chosen)
      const fallbacks = [...(other !== undefined ? [other.id] : []), ...othersInOrder(byScore, chosen.id).filter(id => id !== other?.id)]
      const m = top.length
      const pairs = m * (m - 1) / 2
      return {
        policy: 'power-of-two',
        action: chosen.id,
        fallbacks,
        // Exact chance of being picked: drawn together with a worse-ranked one of the top m.
        explanation: explainAll(ctx, a => {
          const r = loadRank.findIndex(c => c.id === a)
          if (r < 0) return 0
          return m === 1 ? 1 : (m - 1 - r) / pairs
        }),
        reason: other === undefined
          ? `power-of-two: ${chosen.id}, the only candidate`
          : `power-of-two: ${chosen.id} (backlog ${chosen.backlog.mean.toFixed(2)}) over ${other.id} (backlog ${other.backlog.mean.toFixed(2)}), drawn from the top ${m} by score`
      }
    }
  }
}

function decideOracle (ctx: DecisionContext): Decision {
  const oracle = ctx.oracle
  if (oracle === undefined) throw new PolicyError('no-oracle', 'the oracle policy needs ctx.oracle (the simulator\'s true state)')
  const lambda = ctx.latencyWeight
  const rows: ActionExplanation[] = []
  const localMs = (oracle.trueBacklog(LOCAL) + 1) * ctx.local.serviceMs
  const localP = oracle.trueSuccess(LOCAL)
  rows.push({ action: LOCAL, probability: 0, success: localP, expectedLatencyMs: localMs, utility: localP - lambda * localMs / 1000 })
  for (const c of ctx.candidates) {
    const ms = c.rttMs + (oracle.trueBacklog(c.id) + 1) * c.serviceMs
    const p = oracle.trueSuccess(c.id)
    rows.push({ action: c.id, probability: 0, success: p, expectedLatencyMs: ms, utility: p - lambda * ms / 1000 })
  }
  const ordered = rows.slice().sort((a, b) => b.utility - a.utility)
  const best = ordered[0]
  best.probability = 1
  return {
    policy: 'oracle',
    action: best.action,
    fallbacks: ordered.filter(r => r.action !== LOCAL && r !== best).map(r => r.action),
    explanation: rows,
    reason: `oracle: ${best.action} maximises true success − λ·true latency (${best.success.toFixed(2)} − ${lambda}·${(best.expectedLatencyMs / 1000).toFixed(2)} s)`
  }
}

/**
 * PPAI: optimistic scores (mean + exploration·sd) for the caller's own type, a
 * prior over the other players' types around it, the game's equilibrium, and
 * an action SAMPLED from the own type's strategy — sampling, not argmax, is
 * what keeps deciders on one stale snapshot from herding.
 */
function ppaiPolicy (opts: PolicyOptions): RoutingPolicy {
  const exploration = opts.exploration ?? 0.5
  const newcomerEvidence = opts.newcomerEvidence ?? 1
  const ownTypeWeight = opts.ownTypeWeight ?? 0.5
  const querySpread = opts.querySpread ?? 0.1
  const temperature = opts.temperature ?? 0.02
  const selectionNoise = opts.selectionNoise ?? 0.05
  return {
    name: 'ppai',
    decide (ctx: DecisionContext): Decision {
      const types = typePrior(ctx, { exploration, ownTypeWeight, querySpread, newcomerEvidence, selectionNoise })
      const eq = equilibriumStrategy({
        candidates: ctx.candidates.map(c => ({ id: c.id, backlog: Math.max(0, c.backlog.mean), serviceMs: c.serviceMs, rttMs: c.rttMs })),
        types,
        rivals: ctx.expectedRivals
      }, { temperature, reportTypes: 1 })
      return decisionFromEquilibrium(ctx, eq, types[0], exploration, selectionNoise)
    }
  }
}

/**
 * The common prior over players' types. The caller's own type has weight
 * `ownTypeWeight`; nothing is known of the rivals' queries, so the rest is
 * spread evenly over one type per candidate whose query favours that candidate
 * by `querySpread` (and the others by `querySpread / C` less): symmetric in the
 * candidates, with the caller's scores as its mean, and deterministic, so that
 * one context always gives one prior and a decider spends its randomness on
 * its action only.
 */
export function typePrior (ctx: DecisionContext, opts: { exploration: number, ownTypeWeight: number, querySpread: number, newcomerEvidence?: number, selectionNoise?: number }): GameType[] {
  const C = ctx.candidates.length
  const e0 = opts.newcomerEvidence ?? 1
  const curse = selectionMargin(C, opts.selectionNoise ?? 0)
  const success = new Array<number>(C)
  for (let j = 0; j < C; j++) {
    const c = ctx.candidates[j]
    success[j] = clamp01(c.success.mean + explorationBonus(c, opts.exploration, e0) - curse)
  }
  const localSuccess = ctx.local.success.mean
  const localBacklog = Math.max(0, ctx.local.backlog)
  const localServiceMs = ctx.local.serviceMs
  const latencyWeight = ctx.latencyWeight
  const types: GameType[] = [{ weight: C === 0 ? 1 : opts.ownTypeWeight, success, localSuccess, localBacklog, localServiceMs, latencyWeight }]
  const weight = (1 - opts.ownTypeWeight) / C
  for (let favoured = 0; favoured < C; favoured++) {
    const shifted = new Array<number>(C)
    for (let j = 0; j < C; j++) shifted[j] = clamp01(success[j] + opts.querySpread * ((j === favoured ? 1 : 0) - 1 / C))
    types.push({ weight, success: shifted, localSuccess, localBacklog, localServiceMs, latencyWeight })
  }
  return types
}

/** What the best of `candidates` equally good scores with sd `noise` exceeds the own agent's by, by chance: noise·√(2 ln(1 + C)). */
export function selectionMargin (candidates: number, noise: number): number {
  return candidates > 0 && noise > 0 ? noise * Math.sqrt(2 * Math.log(1 + candidates)) : 0
}

/**
 * The optimism bonus of a candidate: `exploration` sd of its estimate, decaying
 * with the evidence known of the agent (near this query, or anywhere: its
 * {@link Candidate.familiarity}), so that it tries newcomers without spreading
 * traffic over every known peer whose score merely has a prior's variance on
 * a query far from its expertise.
 */
export function explorationBonus (c: Candidate, exploration: number, newcomerEvidence = 1): number {
  const sd = Math.sqrt(Math.max(0, c.success.variance))
  const evidence = Math.max(0, c.success.evidence, c.familiarity ?? 0)
  return exploration * sd * newcomerEvidence / (newcomerEvidence + evidence)
}

/** The decision from the own type's (index 0) strategy; `success` in the explanation is the optimistic score the game used, so that utility = success − λ·latency holds. */
function decisionFromEquilibrium (ctx: DecisionContext, eq: Equilibrium, own: GameType, exploration: number, selectionNoise: number): Decision {
  const strategy = eq.strategies[0]
  const utility = eq.utilities[0]
  const latency = eq.expectedLatencyMs[0]
  const A = strategy.length
  let r = ctx.rng()
  let index = A - 1
  for (let a = 0; a < A; a++) {
    r -= strategy[a]
    if (r < 0) {
      index = a
      break
    }
  }
  const action = eq.actions[index]
  const explanation = new Array<ActionExplanation>(A)
  let bestIndex = 0
  for (let a = 0; a < A; a++) {
    explanation[a] = { action: eq.actions[a], probability: strategy[a], utility: utility[a], success: a === 0 ? own.localSuccess : own.success[a - 1], expectedLatencyMs: latency[a] }
    if (utility[a] > utility[bestIndex]) bestIndex = a
  }
  // The other candidates by utility (a stable sort: ties keep the candidates' order).
  const others: ActionExplanation[] = []
  for (let a = 1; a < A; a++) {
    if (a === index) continue
    // Insertion by utility, after every equal one: a handful of rows, sorted without the library sort's buffers.
    const row = explanation[a]
    let k = others.length
    others.push(row)
    while (k > 0 && others[k - 1].utility < row.utility) { others[k] = others[k - 1]; k-- }
    others[k] = row
  }
  const fallbacks = new Array<ActionId>(others.length)
  for (let k = 0; k < others.length; k++) fallbacks[k] = others[k].action
  // The reason is written when read (a node's log and status do; the simulator's million decisions do not), from the values of now.
  const p = strategy[index]
  const u = utility[index]
  const rivals = ctx.expectedRivals
  const C = ctx.candidates.length
  const best = eq.actions[bestIndex]
  const bestUtility = utility[bestIndex]
  const { iterations, residual } = eq
  return {
    policy: 'ppai',
    action,
    fallbacks,
    explanation,
    get reason () {
      return `ppai: sampled ${action} (p=${p.toFixed(3)}, utility ${u.toFixed(3)}) from the equilibrium over ${A} actions with ${rivals.toFixed(1)} expected rivals (scores + ${exploration} sd exploration − ${selectionMargin(C, selectionNoise).toFixed(3)} for the best of ${C} noisy scores); highest utility ${best} (${bestUtility.toFixed(3)}); ${iterations} iterations, residual ${residual.toExponential(1)}`
    }
  }
}

function noCandidates (policy: PolicyName, ctx: DecisionContext): Decision {
  return {
    policy,
    action: LOCAL,
    fallbacks: [],
    explanation: explainAll(ctx, onlyIf(LOCAL)),
    reason: `${policy}: no candidates, the own agent answers`
  }
}

function clamp01 (x: number): number {
  return x < 0 ? 0 : x > 1 ? 1 : x
}

function formatAge (ms: number): string {
  return Number.isFinite(ms) ? `${(ms / 1000).toFixed(1)} s old` : 'no beacon yet'
}
