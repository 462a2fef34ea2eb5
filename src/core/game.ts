/**
 * The load-balancing game (DESIGN §5): a symmetric Bayesian game among the
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
import type { ActionId } from './types.js'

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
}

/** The equilibrium, explained per type and action. */
export interface Equilibrium {
  /** `'local'` first, then the candidate ids in input order. */
  actions: ActionId[]
  /** Per type, the probability of each action. */
  strategies: number[][]
  /** Per type, the expected utility of each action at the equilibrium crowd. */
  utilities: number[][]
  /** Per type, the expected latency of each action at the equilibrium crowd, ms. */
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
export class GameInputError extends Error {
  override name = 'GameInputError'
  constructor (readonly reason: GameInputReason, message: string) {
    super(message)
  }
}

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
  const C = candidates.length
  const A = C + 1
  const rivals = Math.max(0, input.rivals)
  const totalWeight = types.reduce((s, t) => s + t.weight, 0)
  const weights = types.map(t => t.weight / totalWeight)
  // Extra latency, ms, that one more unit of crowd probability adds at candidate j.
  const crowdCostMs = candidates.map(c => rivals * c.serviceMs)

  const ws = new Workspace(types.length, A)
  let x = new Float64Array(C)
  let F = residualAt(x)
  let phi = norm2(F)
  let iterations = 0
  while (iterations < maxIterations && maxAbs(F) > tolerance) {
    iterations++
    const step = newtonStep(x, F) ?? F.map(v => -v)
    let eta = maxStep
    let accepted = false
    for (let tries = 0; tries < 40; tries++) {
      const trial = x.map((v, j) => v + eta * step[j])
      const Ft = residualAt(trial)
      const phiT = norm2(Ft)
      if (phiT <= phi * (1 - 1e-4 * eta) || phiT === 0) {
        x = trial
        F = Ft
        phi = phiT
        accepted = true
        break
      }
      eta /= 2
    }
    if (!accepted) break
  }

  // Strategies and utilities at the final crowd.
  evaluate(x)
  const actions: ActionId[] = [LOCAL, ...candidates.map(c => c.id)]
  const crowd = [0, ...Array.from(x, v => rivals * v)]
  const residual = maxAbs(F)
  return {
    actions,
    strategies: ws.sigma.map(row => Array.from(row)),
    utilities: ws.utility.map(row => Array.from(row)),
    expectedLatencyMs: ws.latency.map(row => Array.from(row)),
    crowd,
    iterations,
    residual,
    converged: residual <= tolerance,
    temperature
  }

  /** Fills the workspace with latencies, utilities and logit strategies for crowd x. */
  function evaluate (xv: Float64Array): void {
    for (let t = 0; t < types.length; t++) {
      const type = types[t]
      const lat = ws.latency[t]
      const u = ws.utility[t]
      const s = ws.sigma[t]
      lat[0] = (type.localBacklog + 1) * type.localServiceMs
      u[0] = type.localSuccess - type.latencyWeight * lat[0] / 1000
      let best = u[0]
      for (let j = 0; j < C; j++) {
        const c = candidates[j]
        lat[j + 1] = c.rttMs + (c.backlog + 1) * c.serviceMs + crowdCostMs[j] * xv[j]
        u[j + 1] = type.success[j] - type.latencyWeight * lat[j + 1] / 1000
        if (u[j + 1] > best) best = u[j + 1]
      }
      let z = 0
      for (let a = 0; a < A; a++) {
        s[a] = Math.exp((u[a] - best) / temperature)
        z += s[a]
      }
      for (let a = 0; a < A; a++) s[a] /= z
    }
  }

  /** x − X(x): how far the assumed crowd is from the crowd the strategies produce. */
  function residualAt (xv: Float64Array): Float64Array {
    evaluate(xv)
    const out = Float64Array.from(xv)
    for (let t = 0; t < types.length; t++) {
      const s = ws.sigma[t]
      for (let j = 0; j < C; j++) out[j] -= weights[t] * s[j + 1]
    }
    return out
  }

  /**
   * Solves J d = −F with J = I + Σ_t w_t (λ_t/τ) (diag σ_t − σ_t σ_tᵀ) D,
   * D = diag(crowd cost / 1000); the workspace holds σ at x (set by residualAt).
   */
  function newtonStep (xv: Float64Array, Fv: Float64Array): Float64Array | undefined {
    evaluate(xv)
    const J = ws.jacobian(C)
    for (let t = 0; t < types.length; t++) {
      const s = ws.sigma[t]
      const c = weights[t] * types[t].latencyWeight / temperature / 1000
      for (let j = 0; j < C; j++) {
        const sj = s[j + 1]
        if (sj === 0) continue
        const row = J[j]
        for (let k = 0; k < C; k++) {
          const cov = (j === k ? sj : 0) - sj * s[k + 1]
          row[k] += c * cov * crowdCostMs[k]
        }
      }
    }
    return solve(J, Fv.map(v => -v))
  }
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
  for (const t of input.types) {
    if (!(t.weight >= 0) || !Number.isFinite(t.weight)) throw new GameInputError('bad-weight', `type weight must be finite and >= 0, got ${t.weight}`)
    total += t.weight
    if (t.success.length !== input.candidates.length) throw new GameInputError('success-length', `a type has ${t.success.length} success values for ${input.candidates.length} candidates`)
    const numbers = [t.localSuccess, t.localBacklog, t.localServiceMs, t.latencyWeight, ...t.success]
    if (!numbers.every(Number.isFinite)) throw new GameInputError('not-finite', 'type values must be finite')
  }
  if (!(total > 0)) throw new GameInputError('bad-weight', 'type weights sum to zero')
  for (const c of input.candidates) {
    if (![c.backlog, c.serviceMs, c.rttMs].every(Number.isFinite)) throw new GameInputError('not-finite', `candidate ${c.id} has a non-finite load value`)
  }
}

/** Reused arrays, so that an iteration allocates little. */
class Workspace {
  readonly sigma: Float64Array[]
  readonly utility: Float64Array[]
  readonly latency: Float64Array[]
  private J: Float64Array[] = []

  constructor (types: number, actions: number) {
    this.sigma = Array.from({ length: types }, () => new Float64Array(actions))
    this.utility = Array.from({ length: types }, () => new Float64Array(actions))
    this.latency = Array.from({ length: types }, () => new Float64Array(actions))
  }

  /** An identity matrix of size n (reused). */
  jacobian (n: number): Float64Array[] {
    if (this.J.length !== n) this.J = Array.from({ length: n }, () => new Float64Array(n))
    for (let i = 0; i < n; i++) {
      this.J[i].fill(0)
      this.J[i][i] = 1
    }
    return this.J
  }
}

/** Gaussian elimination with partial pivoting; undefined when singular. Overwrites M. */
function solve (M: Float64Array[], b: Float64Array): Float64Array | undefined {
  const n = b.length
  for (let col = 0; col < n; col++) {
    let pivot = col
    for (let r = col + 1; r < n; r++) if (Math.abs(M[r][col]) > Math.abs(M[pivot][col])) pivot = r
    if (Math.abs(M[pivot][col]) < 1e-14) return undefined
    if (pivot !== col) {
      const tmp = M[pivot]; M[pivot] = M[col]; M[col] = tmp
      const tb = b[pivot]; b[pivot] = b[col]; b[col] = tb
    }
    const d = M[col][col]
    for (let r = col + 1; r < n; r++) {
      const f = M[r][col] / d
      if (f === 0) continue
      for (let k = col; k < n; k++) M[r][k] -= f * M[col][k]
      b[r] -= f * b[col]
    }
  }
  const out = new Float64Array(n)
  for (let r = n - 1; r >= 0; r--) {
    let s = b[r]
    for (let k = r + 1; k < n; k++) s -= M[r][k] * out[k]
    out[r] = s / M[r][r]
  }
  return out
}

function maxAbs (v: Float64Array): number {
  let m = 0
  for (const x of v) m = Math.max(m, Math.abs(x))
  return m
}

function norm2 (v: Float64Array): number {
  let s = 0
  for (const x of v) s += x * x
  return s
}
