/**
 * The load-balancing game (ARCHITECTURE.md §5): a symmetric Bayesian game among the
 * nodes that place a query at the same instant, solved for its logit (smoothed)
 * equilibrium in mixed strategies.
 *
 * Players do not see each other's queries, only a common prior over types. A
 * type is what a player knows when it decides: the success of each candidate
 * on its query, its own agent's success and backlog, and its latency weight λ.
 * Action: `'local'` or one candidate. Utility of action a for type t:
 *
 *   U_t(a) = p_t(a) − λ_t · E[T_a] / 1000
 *   E[T_a] = rtt_a + (believed backlog_a + crowd_a + 1) · serviceMs_a
 *   crowd_a = rivals · Σ_t' w_t' σ_t'(a)
 *
 * (`'local'` is each player's own agent: no rival crowds it.) A strategy is
 * σ_t = softmax(U_t / temperature): each type answers the crowd with a
 * smoothed best response, and the equilibrium is the crowd that reproduces
 * itself. Pure and deterministic; no randomness is used.
 */
import { ReasonError } from './errors.js'
import type { ActionId } from './types.js'
import { choleskySolveInPlace, maxAbs, norm2, solveInPlace } from './linalg.js'

/** The action of keeping the query on the own agent. */
export const LOCAL: ActionId = 'local'

/** A remote agent as the game sees it: its believed load and speed. */
export interface GameCandidate {
  id: string
  /** Believed backlog now (mean of the belief). */
  backlog: number
  /** Mean service time of one request, ms. */
  serviceMs: number
  /** Network round trip, ms. */
  rttMs: number
}

/** One type of player, with its weight in the common prior. */
export interface GameType {
  /** Prior weight (normalised over all types). */
  weight: number
  /** Success on this type's query per candidate, aligned with `GameInput.candidates`. */
  success: readonly number[]
  /** Success of the player's own agent on its query. */
  localSuccess: number
  /** The player's own backlog. */
  localBacklog: number
  /** Mean service time of the player's own agent, ms. */
  localServiceMs: number
  /** λ: utility lost per second of expected latency. */
  latencyWeight: number
}

/** A game at one decision instant. */
export interface GameInput {
  candidates: readonly GameCandidate[]
  /** The common prior over types: a weighted sample; the caller's own type is one of them. */
  types: readonly GameType[]
  /** Expected number of other players placing a query in the same window. */
  rivals: number
}

/** Solver settings. */
export interface GameOptions {
  /** Logit noise in utility units: a utility gap of `temperature` is odds of e:1. Default 0.02. */
  temperature?: number
  /** Largest step of the damped iteration, in (0, 1]. Default 1. */
  damping?: number
  /** Default 100. */
  maxIterations?: number
  /** Stop when no action's choice probability moves by more than this. Default 1e-10. */
  tolerance?: number
  /** How many types, from the first, the result reports strategies, utilities and latencies for (default all): a caller that reads only its own type's row allocates one. */
  reportTypes?: number
}

/** The equilibrium, explained per type and action. */
export interface Equilibrium {
  /** `'local'` first, then the candidate ids in input order. */
  actions: ActionId[]
  /** Per type (the first `reportTypes`), the probability of each action. */
  strategies: number[][]
  /** Per type (the first `reportTypes`), the expected utility of each action at the equilibrium crowd. */
  utilities: number[][]
  /** Per type (the first `reportTypes`), the expected latency of each action at the equilibrium crowd, ms. */
  expectedLatencyMs: number[][]
  /** Per action, the expected number of rivals choosing it (0 for `'local'`). */
  crowd: number[]
  /** Iterations used. */
  iterations: number
  /** Largest gap between the crowd assumed and the crowd the strategies produce (probability units). */
  residual: number
  converged: boolean
  temperature: number
}

/** Why a game input was rejected. */
export type GameInputReason = 'no-types' | 'bad-weight' | 'success-length' | 'not-finite' | 'bad-temperature'

/** A game input the solver cannot use; `reason` is countable. */
export class GameInputError extends ReasonError<GameInputReason> {}

/**
 * Finds the symmetric logit equilibrium of the game.
 *
 * The unknown is the crowd vector x (probability that a rival picks each
 * candidate); the equilibrium solves x = X(x), X being the prior-weighted
 * smoothed best response. A plain damped iteration x ← x + η(X(x) − x) crawls
 * or oscillates when the crowd is large (its gain is rivals·service·λ/τ), so
 * each step is preconditioned by the Jacobian (a Newton step on x − X(x)) and
 * damped by backtracking until the gap shrinks. The Jacobian is I + (PSD)·D and
 * never singular, and the game has a convex potential, so the fixed point is
 * unique and the iteration reaches it in a handful of steps.
 */
export function equilibriumStrategy (input: GameInput, opts: GameOptions = {}): Equilibrium {
  const temperature = opts.temperature ?? 0.02
  const maxStep = Math.min(1, Math.max(1e-3, opts.damping ?? 1))
  const maxIterations = Math.max(1, opts.maxIterations ?? 100)
  const tolerance = opts.tolerance ?? 1e-10
  validate(input, temperature)

  const { candidates, types } = input
  const T = types.length
  const C = candidates.length
  const A = C + 1
  const rivals = Math.max(0, input.rivals)
  const s = scratchFor(T, C)
  s.T = T
  s.C = C
  s.temperature = temperature
  let totalWeight = 0
  for (let t = 0; t < T; t++) totalWeight += types[t].weight
  // The types' numbers are copied once into flat arrays: the solve reads them many times, and reads nothing else of the input.
  const { weights, success, perMs, newtonCoef, localUtility, localLatencyMs } = s
  for (let t = 0; t < T; t++) {
    const type = types[t]
    const w = type.weight / totalWeight
    weights[t] = w
    const pm = type.latencyWeight / 1000
    perMs[t] = pm
    const lat0 = (type.localBacklog + 1) * type.localServiceMs
    localLatencyMs[t] = lat0
    localUtility[t] = type.localSuccess - pm * lat0
    newtonCoef[t] = w * type.latencyWeight / temperature / 1000
    const row = t * C
    const p = type.success
    for (let j = 0; j < C; j++) success[row + j] = p[j]
  }
  s.factored = factorable(s, types)
  // Latency of each candidate without the crowd, and the extra latency one unit of crowd probability adds (ms).
  const { baseLatencyMs, crowdCostMs } = s
  for (let j = 0; j < C; j++) {
    const c = candidates[j]
    baseLatencyMs[j] = c.rttMs + (c.backlog + 1) * c.serviceMs
    crowdCostMs[j] = rivals * c.serviceMs
  }

  // Flat row-major buffers (type × action, candidate × candidate), reused across solves: a solve allocates only its result.
  const step = s.step
  let x = s.x
  let F = s.F
  let trial = s.trial
  let Ft = s.Ft
  x.fill(0, 0, C)

  residualAt(s, x, F)
  let phi = norm2(F, C)
  // A crowded game starts far from the empty crowd (Newton then spends several damped steps getting close): start from
  // the crowd of the noiseless game instead when its gap is smaller — the same fixed point, reached in fewer steps.
  if (C > 0 && rivals > 0 && phi > tolerance * tolerance && waterFill(s, trial)) {
    residualAt(s, trial, Ft)
    const phiT = norm2(Ft, C)
    if (phiT < phi) {
      for (let j = 0; j < C; j++) x[j] = trial[j]
      for (let j = 0; j < C; j++) F[j] = Ft[j]
      phi = phiT
    } else {
      residualAt(s, x, F)
    }
  }
  // Whether sigma, utility and crowd latencies hold the values at x (the last residualAt was at x).
  let evaluatedAtX = true
  let iterations = 0
  while (iterations < maxIterations && maxAbs(F, C) > tolerance) {
    iterations++
    if (!newtonStep(s, F, step)) for (let j = 0; j < C; j++) step[j] = -F[j]
    let eta = maxStep
    let accepted = false
    for (let tries = 0; tries < 40; tries++) {
      for (let j = 0; j < C; j++) trial[j] = x[j] + eta * step[j]
      residualAt(s, trial, Ft)
      const phiT = norm2(Ft, C)
      if (phiT <= phi * (1 - 1e-4 * eta) || phiT === 0) {
        const spareX = x
        x = trial
        trial = spareX
        const spareF = F
        F = Ft
        Ft = spareF
        phi = phiT
        accepted = true
        evaluatedAtX = true
        break
      }
      evaluatedAtX = false
      eta /= 2
    }
    if (!accepted) break
  }
  // The buffers swapped roles: keep them for the next solve.
  s.x = x
  s.F = F
  s.trial = trial
  s.Ft = Ft

  // Strategies and utilities at the final crowd (the factored evaluation leaves utilities to this one fill).
  if (!evaluatedAtX) evaluate(s, x)
  const reported = Math.min(T, Math.max(1, opts.reportTypes ?? T))
  if (s.factored) for (let t = 0; t < reported; t++) fillUtilities(s, t, perMs[t])
  const residual = maxAbs(F, C)
  const actions: ActionId[] = [LOCAL]
  const crowd = [0]
  for (let j = 0; j < C; j++) {
    actions.push(candidates[j].id)
    crowd.push(rivals * x[j])
  }
  // Every type faces the same crowd latencies; only the own agent's differs.
  const expectedLatencyMs: number[][] = []
  for (let t = 0; t < reported; t++) {
    const row = new Array<number>(A)
    row[0] = localLatencyMs[t]
    for (let j = 0; j < C; j++) row[j + 1] = s.crowdLatencyMs[j]
    expectedLatencyMs.push(row)
  }
  return {
    actions,
    strategies: rows(s.sigma, reported, A),
    utilities: rows(s.utility, reported, A),
    expectedLatencyMs,
    crowd,
    iterations,
    residual,
    converged: residual <= tolerance,
    temperature
  }
}

/**
 * The crowd of the noiseless game with the prior's mean type, into `out`:
 * rivals fill the candidates whose mean utility beats the own agent's until
 * the utilities they take are level (x_j = (v_j − L) / slope_j), spending at
 * most the whole crowd. A starting point only; false when it says nothing (no
 * candidate beats the own agent, or no latency weight).
 */
function waterFill (s: Scratch, out: Float64Array): boolean {
  const { T, C, weights, success, perMs, localUtility, baseLatencyMs, crowdCostMs, latencyFactor: value, crowdLatencyMs: slope } = s
  let pm = 0
  let u0 = 0
  for (let t = 0; t < T; t++) {
    pm += weights[t] * perMs[t]
    u0 += weights[t] * localUtility[t]
  }
  if (!(pm > 0)) return false
  // Scratch rows that every evaluation overwrites before reading: the mean utility and the crowd's slope per candidate.
  let any = false
  for (let j = 0; j < C; j++) {
    let p = 0
    for (let t = 0; t < T; t++) p += weights[t] * success[t * C + j]
    value[j] = p - pm * baseLatencyMs[j]
    slope[j] = pm * crowdCostMs[j]
    if (value[j] > u0 && slope[j] > 0) any = true
  }
  if (!any) return false
  const filled = (level: number): number => {
    let sum = 0
    for (let j = 0; j < C; j++) if (value[j] > level && slope[j] > 0) sum += (value[j] - level) / slope[j]
    return sum
  }
  let level = u0
  if (filled(u0) > 1) {
    // Σ x_j(L) is decreasing in L: bisect for Σ = 1 between the own agent's utility and the best candidate's.
    let lo = u0
    let hi = u0
    for (let j = 0; j < C; j++) if (value[j] > hi) hi = value[j]
    for (let k = 0; k < 50; k++) {
      const mid = (lo + hi) / 2
      if (filled(mid) > 1) lo = mid
      else hi = mid
    }
    level = hi
  }
  for (let j = 0; j < C; j++) out[j] = value[j] > level && slope[j] > 0 ? (value[j] - level) / slope[j] : 0
  return true
}

/** Fills crowd latencies, utilities and logit strategies for crowd xv. */
function evaluate (s: Scratch, xv: Float64Array): void {
  if (s.factored) {
    evaluateFactored(s, xv)
    return
  }
  const { T, C, temperature, baseLatencyMs, crowdCostMs, crowdLatencyMs, perMs, utility, sigma } = s
  const A = C + 1
  // The crowd's latency is the same for every type: computed once per evaluation.
  for (let j = 0; j < C; j++) crowdLatencyMs[j] = baseLatencyMs[j] + crowdCostMs[j] * xv[j]
  for (let t = 0; t < T; t++) {
    const row = t * A
    const best = fillUtilities(s, t, perMs[t])
    let z = 0
    for (let a = 0; a < A; a++) {
      const e = Math.exp((utility[row + a] - best) / temperature)
      sigma[row + a] = e
      z += e
    }
    for (let a = 0; a < A; a++) sigma[row + a] /= z
  }
}

/** Type `t`'s utilities of every action at the crowd's latencies (`perMs`: its latency weight per ms); returns the best. */
function fillUtilities (s: Scratch, t: number, perMs: number): number {
  const { C, success, crowdLatencyMs, localUtility, utility } = s
  const row = t * (C + 1)
  const srow = t * C
  let best = localUtility[t]
  utility[row] = best
  for (let j = 0; j < C; j++) {
    const u = success[srow + j] - perMs * crowdLatencyMs[j]
    utility[row + j + 1] = u
    if (u > best) best = u
  }
  return best
}

/**
 * Whether every type weighs latency alike, with success values spread little
 * enough that exp(success / temperature) is representable: then a type's
 * logit weight of a candidate, exp((u − best) / τ), factors into a part of
 * its success (fixed for the solve), a part of the candidate's latency
 * (shared by every type) and one per type, so an evaluation takes C + 2T
 * exponentials instead of T·(C + 1) (same values up to a few ulps). When
 * true, fills the success factors and each type's top success.
 */
function factorable (s: Scratch, types: readonly GameType[]): boolean {
  const { T, C, temperature, success, successFactor, topSuccess } = s
  if (C === 0) return false
  const lw = types[0].latencyWeight
  for (let t = 1; t < T; t++) if (types[t].latencyWeight !== lw) return false
  for (let t = 0; t < T; t++) {
    const row = t * C
    let top = -Infinity
    let bottom = Infinity
    for (let j = 0; j < C; j++) {
      const p = success[row + j]
      if (p > top) top = p
      if (p < bottom) bottom = p
    }
    if (!((top - bottom) / temperature <= 600)) return false
    topSuccess[t] = top
    for (let j = 0; j < C; j++) successFactor[row + j] = Math.exp((success[row + j] - top) / temperature)
  }
  return true
}

/** {@link evaluate} for a game that {@link factorable} accepted. */
function evaluateFactored (s: Scratch, xv: Float64Array): void {
  const { T, C, temperature, baseLatencyMs, crowdCostMs, crowdLatencyMs, perMs, utility, sigma, successFactor, topSuccess, latencyFactor, localUtility } = s
  const A = C + 1
  const pm = perMs[0]
  // The largest latency term −λ·T over candidates: the latency factors are at most 1.
  let top = -Infinity
  for (let j = 0; j < C; j++) {
    const lat = baseLatencyMs[j] + crowdCostMs[j] * xv[j]
    crowdLatencyMs[j] = lat
    const v = -pm * lat
    if (v > top) top = v
  }
  for (let j = 0; j < C; j++) latencyFactor[j] = Math.exp((-pm * crowdLatencyMs[j] - top) / temperature)
  for (let t = 0; t < T; t++) {
    const row = t * A
    const srow = t * C
    // exp((u − best)/τ) = exp((p − top p)/τ) · exp((−λT − top)/τ) · exp((top p + top − best)/τ), and the last factor cancels
    // in the normalisation: the own agent's weight is taken relative to it, unless that would overflow (own agent far ahead).
    // The candidates' utilities are not needed for that: they are filled once, at the final crowd.
    const ownExponent = (localUtility[t] - topSuccess[t] - top) / temperature
    let typeFactor = 1
    let e0: number
    if (ownExponent <= 600) {
      e0 = Math.exp(ownExponent)
    } else {
      const best = fillUtilities(s, t, pm)
      typeFactor = Math.exp((topSuccess[t] + top - best) / temperature)
      e0 = Math.exp((utility[row] - best) / temperature)
    }
    sigma[row] = e0
    let z = e0
    for (let j = 0; j < C; j++) {
      const e = successFactor[srow + j] * (latencyFactor[j] * typeFactor)
      sigma[row + j + 1] = e
      z += e
    }
    const inv = 1 / z
    for (let a = 0; a < A; a++) sigma[row + a] *= inv
  }
}

/** out = xv − X(xv): how far the assumed crowd is from the crowd the strategies produce. */
function residualAt (s: Scratch, xv: Float64Array, out: Float64Array): void {
  evaluate(s, xv)
  const { T, C, weights, sigma } = s
  const A = C + 1
  for (let j = 0; j < C; j++) out[j] = xv[j]
  for (let t = 0; t < T; t++) {
    const row = t * A + 1
    const w = weights[t]
    for (let j = 0; j < C; j++) out[j] -= w * sigma[row + j]
  }
}

/**
 * Solves J d = −F into `out`, J = I + Σ_t w_t (λ_t/τ) (diag σ_t − σ_t σ_tᵀ) D,
 * D = diag(crowd cost / 1000); false when J is singular. σ is at x: the
 * last residualAt was at x (the start or the accepted trial).
 */
function newtonStep (s: Scratch, Fv: Float64Array, out: Float64Array): boolean {
  const { T, C, J, sigma, newtonCoef, crowdCostMs, active, diagSum } = s
  const A = C + 1
  // Σ_t w_t(λ_t/τ) σ_t σ_tᵀ is symmetric: its upper triangle is summed in J, the diagonal's Σ w(λ/τ) σ in diagSum.
  J.fill(0, 0, C * C)
  diagSum.fill(0, 0, C)
  for (let t = 0; t < T; t++) {
    const row = t * A + 1
    const c = newtonCoef[t]
    // Actions a type almost never picks add nothing measurable to J (an approximate J only slows the step, never misleads the check on F).
    let m = 0
    for (let j = 0; j < C; j++) if (sigma[row + j] > 1e-12) active[m++] = j
    for (let a = 0; a < m; a++) {
      const j = active[a]
      const csj = c * sigma[row + j]
      diagSum[j] += csj
      const jr = j * C
      for (let b = a; b < m; b++) {
        const k = active[b]
        J[jr + k] += csj * sigma[row + k]
      }
    }
  }
  // J = I + M·D with M = diag(Σ cσ) − Σ cσσᵀ symmetric positive semi-definite. With every crowd cost positive,
  // J d = −F is (D⁻¹ + M) y = −F with d = D⁻¹y, a symmetric positive definite system: Cholesky, no pivoting, half the work.
  let positive = true
  for (let j = 0; j < C; j++) if (!(crowdCostMs[j] > 0)) positive = false
  if (positive) {
    for (let j = 0; j < C; j++) {
      const jr = j * C
      J[jr + j] = 1 / crowdCostMs[j] + diagSum[j] - J[jr + j]
      for (let k = j + 1; k < C; k++) J[jr + k] = -J[jr + k]
    }
    for (let j = 0; j < C; j++) out[j] = -Fv[j]
    if (!choleskySolveInPlace(J, out, C)) return false
    for (let j = 0; j < C; j++) out[j] /= crowdCostMs[j]
    return true
  }
  // Otherwise the general solve: the lower triangle from the upper first, then the upper in place.
  for (let j = 1; j < C; j++) {
    for (let k = 0; k < j; k++) J[j * C + k] = -J[k * C + j] * crowdCostMs[k]
  }
  for (let j = 0; j < C; j++) {
    const jr = j * C
    J[jr + j] = 1 + (diagSum[j] - J[jr + j]) * crowdCostMs[j]
    for (let k = j + 1; k < C; k++) J[jr + k] = -J[jr + k] * crowdCostMs[k]
  }
  for (let j = 0; j < C; j++) out[j] = -Fv[j]
  return solveInPlace(J, out, C)
}

/** Row `t` of a flat row-major matrix as plain arrays. */
function rows (flat: Float64Array, n: number, width: number): number[][] {
  const out: number[][] = []
  for (let t = 0; t < n; t++) {
    const row = new Array<number>(width)
    for (let a = 0; a < width; a++) row[a] = flat[t * width + a]
    out.push(row)
  }
  return out
}

/**
 * The gain type `t` would get by deviating from `strategy` in the smoothed
 * game (expected utility plus temperature × entropy), given the utilities it
 * faces: τ·log Σ exp(U/τ) − (σ·U + τ·H(σ)). Zero exactly for the logit response.
 */
export function smoothedDeviationGain (utilities: readonly number[], strategy: readonly number[], temperature: number): number {
  const best = Math.max(...utilities)
  let z = 0
  for (const u of utilities) z += Math.exp((u - best) / temperature)
  const optimum = best + temperature * Math.log(z)
  let value = 0
  for (let a = 0; a < utilities.length; a++) {
    const p = strategy[a]
    if (p > 0) value += p * utilities[a] - temperature * p * Math.log(p)
  }
  return optimum - value
}

function validate (input: GameInput, temperature: number): void {
  if (!(temperature > 0) || !Number.isFinite(temperature)) throw new GameInputError('bad-temperature', `temperature must be positive, got ${temperature}`)
  if (input.types.length === 0) throw new GameInputError('no-types', 'the prior needs at least one type')
  if (!Number.isFinite(input.rivals)) throw new GameInputError('not-finite', 'rivals must be finite')
  let total = 0
  const types = input.types
  for (let i = 0; i < types.length; i++) {
    const t = types[i]
    if (!(t.weight >= 0) || !Number.isFinite(t.weight)) throw new GameInputError('bad-weight', `type weight must be finite and >= 0, got ${t.weight}`)
    total += t.weight
    if (t.success.length !== input.candidates.length) throw new GameInputError('success-length', `a type has ${t.success.length} success values for ${input.candidates.length} candidates`)
    let finite = Number.isFinite(t.localSuccess) && Number.isFinite(t.localBacklog) && Number.isFinite(t.localServiceMs) && Number.isFinite(t.latencyWeight)
    for (let j = 0; finite && j < t.success.length; j++) finite = Number.isFinite(t.success[j])
    if (!finite) throw new GameInputError('not-finite', 'type values must be finite')
  }
  if (!(total > 0)) throw new GameInputError('bad-weight', 'type weights sum to zero')
  const candidates = input.candidates
  for (let j = 0; j < candidates.length; j++) {
    const c = candidates[j]
    if (!(Number.isFinite(c.backlog) && Number.isFinite(c.serviceMs) && Number.isFinite(c.rttMs))) throw new GameInputError('not-finite', `candidate ${c.id} has a non-finite load value`)
  }
}

/** Working buffers of a solve, sized for T types and C candidates (larger is fine: every loop is bounded by T and C). */
interface Scratch {
  types: number
  candidates: number
  /** The current solve's sizes and temperature. */
  T: number
  C: number
  temperature: number
  /** Whether this solve evaluates by factored exponentials ({@link factorable}). */
  factored: boolean
  /** Type × candidate exp((success − type's top success) / τ), and per type its top success; per candidate exp((−λ·latency − top) / τ). */
  successFactor: Float64Array
  topSuccess: Float64Array
  latencyFactor: Float64Array
  weights: Float64Array
  /** Type × candidate success, row-major. */
  success: Float64Array
  /** Per type: λ / 1000, the utility lost per ms. */
  perMs: Float64Array
  /** Per type: w·λ/τ/1000, its weight in the Jacobian. */
  newtonCoef: Float64Array
  /** Per type: utility and latency of the own agent. */
  localUtility: Float64Array
  localLatencyMs: Float64Array
  baseLatencyMs: Float64Array
  crowdCostMs: Float64Array
  crowdLatencyMs: Float64Array
  sigma: Float64Array
  utility: Float64Array
  J: Float64Array
  diagSum: Float64Array
  active: Int32Array
  x: Float64Array
  F: Float64Array
  trial: Float64Array
  Ft: Float64Array
  step: Float64Array
}

let scratch: Scratch | undefined

/** The shared working buffers, grown when a game is larger than any before (a solve never re-enters itself). */
function scratchFor (T: number, C: number): Scratch {
  if (scratch !== undefined && scratch.types >= T && scratch.candidates >= C) return scratch
  const types = Math.max(T, scratch?.types ?? 0, 32)
  const candidates = Math.max(C, scratch?.candidates ?? 0, 32)
  const A = candidates + 1
  scratch = {
    types,
    candidates,
    T: 0,
    C: 0,
    temperature: 1,
    factored: false,
    successFactor: new Float64Array(types * candidates),
    topSuccess: new Float64Array(types),
    latencyFactor: new Float64Array(candidates),
    weights: new Float64Array(types),
    success: new Float64Array(types * candidates),
    perMs: new Float64Array(types),
    newtonCoef: new Float64Array(types),
    localUtility: new Float64Array(types),
    localLatencyMs: new Float64Array(types),
    baseLatencyMs: new Float64Array(candidates),
    crowdCostMs: new Float64Array(candidates),
    crowdLatencyMs: new Float64Array(candidates),
    sigma: new Float64Array(types * A),
    utility: new Float64Array(types * A),
    J: new Float64Array(candidates * candidates),
    diagSum: new Float64Array(candidates),
    active: new Int32Array(candidates),
    x: new Float64Array(candidates),
    F: new Float64Array(candidates),
    trial: new Float64Array(candidates),
    Ft: new Float64Array(candidates),
    step: new Float64Array(candidates)
  }
  return scratch
}
