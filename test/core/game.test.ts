import { describe, expect, it } from 'vitest'
import { equilibriumStrategy, GameInputError, smoothedDeviationGain, type GameCandidate, type GameInput, type GameType } from '../../src/core/game.js'
import { seededRng } from '../../src/core/rng.js'

function type (success: number[], over: Partial<GameType> = {}): GameType {
  return { weight: 1, success, localSuccess: 0.3, localBacklog: 0, localServiceMs: 1000, latencyWeight: 0.1, ...over }
}

function cand (id: string, over: Partial<GameCandidate> = {}): GameCandidate {
  return { id, backlog: 0, serviceMs: 1000, rttMs: 20, ...over }
}

/** The game's utilities recomputed from scratch, for the crowd the returned strategies imply. */
function utilitiesAtImpliedCrowd (input: GameInput, strategies: number[][]): number[][] {
  const total = input.types.reduce((s, t) => s + t.weight, 0)
  const crowd = input.candidates.map((_, j) => input.rivals * input.types.reduce((s, t, i) => s + t.weight / total * strategies[i][j + 1], 0))
  return input.types.map(t => [
    t.localSuccess - t.latencyWeight * (t.localBacklog + 1) * t.localServiceMs / 1000,
    ...input.candidates.map((c, j) => t.success[j] - t.latencyWeight * (c.rttMs + (c.backlog + crowd[j] + 1) * c.serviceMs) / 1000)
  ])
}

describe('equilibriumStrategy', () => {
  it('spreads a crowd over two equal candidates', () => {
    const eq = equilibriumStrategy({ candidates: [cand('a'), cand('b')], types: [type([0.8, 0.8])], rivals: 10 })
    const [, pa, pb] = eq.strategies[0]
    expect(eq.actions).toEqual(['local', 'a', 'b'])
    expect(Math.abs(pa - pb)).toBeLessThan(1e-9)
    expect(pa).toBeGreaterThan(0.3)
    expect(eq.converged).toBe(true)
  })

  it('takes one clearly better idle candidate', () => {
    const eq = equilibriumStrategy({ candidates: [cand('good'), cand('weak')], types: [type([0.9, 0.6], { latencyWeight: 0.05 })], rivals: 2 })
    expect(eq.strategies[0][1]).toBeGreaterThan(0.9)
  })

  it('spreads when the better candidate is loaded beyond its gain by the crowd', () => {
    // 20 rivals each adding a 1 s service at λ = 0.02/s: a full crowd costs 0.4, more than the 0.1 gain.
    const player = type([0.9, 0.8], { latencyWeight: 0.02, localSuccess: 0.1 })
    const alone = equilibriumStrategy({ candidates: [cand('best'), cand('second')], types: [player], rivals: 0 })
    const crowded = equilibriumStrategy({ candidates: [cand('best'), cand('second')], types: [player], rivals: 20 })
    expect(alone.strategies[0][1]).toBeGreaterThan(0.9)
    const [, best, second] = crowded.strategies[0]
    expect(best).toBeGreaterThan(second)
    expect(best).toBeLessThan(0.75)
    expect(second).toBeGreaterThan(0.25)
    // Utilities of the two used actions are equalised by the crowd (up to the logit noise).
    expect(Math.abs(crowded.utilities[0][1] - crowded.utilities[0][2])).toBeLessThan(0.05)
  })

  it('moves away from a better candidate whose believed backlog costs more than its gain', () => {
    const eq = equilibriumStrategy({ candidates: [cand('best', { backlog: 5 }), cand('second')], types: [type([0.9, 0.8])], rivals: 1 })
    expect(eq.strategies[0][2]).toBeGreaterThan(eq.strategies[0][1])
  })

  it('returns a fixed point: no type gains by deviating in the smoothed game', () => {
    const rng = seededRng('fixed-point')
    const candidates = Array.from({ length: 20 }, (_, j) => cand(`c${j}`, { backlog: Math.floor(rng() * 4), serviceMs: 500 + rng() * 2000, rttMs: 10 + rng() * 80 }))
    const types = Array.from({ length: 9 }, () => type(candidates.map(() => 0.4 + 0.55 * rng()), { weight: 0.5 + rng(), localSuccess: 0.3 + 0.5 * rng(), localBacklog: Math.floor(rng() * 3), latencyWeight: 0.02 + 0.1 * rng() }))
    const input: GameInput = { candidates, types, rivals: 40 }
    const eq = equilibriumStrategy(input)
    expect(eq.converged).toBe(true)
    const utilities = utilitiesAtImpliedCrowd(input, eq.strategies)
    for (let t = 0; t < types.length; t++) {
      expect(eq.strategies[t].reduce((s, p) => s + p, 0)).toBeCloseTo(1, 12)
      expect(smoothedDeviationGain(utilities[t], eq.strategies[t], eq.temperature)).toBeLessThan(1e-6)
    }
    // An arbitrary strategy is not a fixed point, so the check can fail.
    const uniform = types.map(() => Array(21).fill(1 / 21) as number[])
    const gains = utilitiesAtImpliedCrowd(input, uniform).map((u, t) => smoothedDeviationGain(u, uniform[t], eq.temperature))
    expect(Math.max(...gains)).toBeGreaterThan(1e-3)
  })

  it('solves a 20-candidate game well under a millisecond', () => {
    const rng = seededRng('speed')
    const candidates = Array.from({ length: 20 }, (_, j) => cand(`c${j}`, { backlog: rng() * 3, serviceMs: 500 + rng() * 2000 }))
    const types = Array.from({ length: 9 }, () => type(candidates.map(() => 0.5 + 0.4 * rng())))
    for (let i = 0; i < 50; i++) equilibriumStrategy({ candidates, types, rivals: 5 + i })
    // CPU time, best of five batches: the solver's cost, not the other processes sharing the machine.
    let perSolveMs = Infinity
    let iterations = 0
    const runs = 100
    for (let batch = 0; batch < 5; batch++) {
      const start = process.cpuUsage()
      iterations = 0
      for (let i = 0; i < runs; i++) iterations += equilibriumStrategy({ candidates, types, rivals: 5 + i }).iterations
      const used = process.cpuUsage(start)
      perSolveMs = Math.min(perSolveMs, (used.user + used.system) / 1000 / runs)
    }
    expect(iterations / runs).toBeLessThan(30)
    expect(perSolveMs).toBeLessThan(1)
  })

  it('converges within 40 iterations on each of 200 random games, up to 5 000 rivals and 40 candidates', () => {
    const rng = seededRng('many-games')
    let worst = 0
    for (let g = 0; g < 200; g++) {
      const C = 1 + Math.floor(rng() * 40)
      const candidates = Array.from({ length: C }, (_, j) => cand(`c${j}`, { backlog: rng() * 10, serviceMs: 100 + rng() * 5000, rttMs: rng() * 200 }))
      const types = Array.from({ length: 1 + Math.floor(rng() * 12) }, () => type(candidates.map(() => rng()), { weight: rng() + 0.01, localSuccess: rng(), localBacklog: Math.floor(rng() * 5), latencyWeight: rng() * 0.2 }))
      const eq = equilibriumStrategy({ candidates, types, rivals: rng() < 0.2 ? 0 : rng() * 5000 })
      expect(eq.converged).toBe(true)
      worst = Math.max(worst, eq.iterations)
    }
    // Newton-preconditioned steps: tens, not the thousands a plain damped iteration needs at this crowd size.
    expect(worst).toBeLessThan(40)
  })

  it('starts a crowded game from the noiseless crowd: 200 games with 10-70 rivals take at most 7 Newton steps on average', () => {
    // The shape of ppai's games: 8 candidates, the own type and one type favouring each candidate, tens of rivals.
    const rng = seededRng('crowded')
    let total = 0
    for (let g = 0; g < 200; g++) {
      const candidates = Array.from({ length: 8 }, (_, j) => cand(`c${j}`, { backlog: rng() * 3, serviceMs: 2000 + rng() * 6000, rttMs: 20 + rng() * 130 }))
      const own = type(candidates.map(() => 0.55 + 0.35 * rng()), { weight: 0.5, localSuccess: 0.6, localBacklog: 1, localServiceMs: 4000, latencyWeight: 0.05 })
      const types = [own, ...candidates.map((_, f) => ({ ...own, weight: 0.5 / 8, success: own.success.map((p, j) => p + 0.1 * ((j === f ? 1 : 0) - 1 / 8)) }))]
      const eq = equilibriumStrategy({ candidates, types, rivals: 10 + rng() * 60 })
      expect(eq.converged).toBe(true)
      total += eq.iterations
    }
    // From the empty crowd the same games take 9.2 steps on average (damped steps first, then Newton's quadratic ones).
    expect(total / 200).toBeLessThanOrEqual(7)
  })

  it('reports only the first types when asked, with the values of the full result', () => {
    const candidates = [cand('a', { backlog: 2 }), cand('b'), cand('c', { serviceMs: 3000 })]
    const types = [type([0.8, 0.7, 0.9]), type([0.6, 0.9, 0.5], { weight: 0.5 }), type([0.7, 0.7, 0.7], { weight: 0.5 })]
    const full = equilibriumStrategy({ candidates, types, rivals: 12 })
    const own = equilibriumStrategy({ candidates, types, rivals: 12 }, { reportTypes: 1 })
    expect(full.strategies).toHaveLength(3)
    expect(own.strategies).toHaveLength(1)
    expect(own.utilities).toHaveLength(1)
    expect(own.expectedLatencyMs).toHaveLength(1)
    expect(own.strategies[0]).toEqual(full.strategies[0])
    expect(own.utilities[0]).toEqual(full.utilities[0])
    expect(own.expectedLatencyMs[0]).toEqual(full.expectedLatencyMs[0])
    expect(own.crowd).toEqual(full.crowd)
  })

  it('rejects a type whose success list does not match the candidates, with a countable reason', () => {
    try {
      equilibriumStrategy({ candidates: [cand('a')], types: [type([0.5, 0.5])], rivals: 1 })
      expect.unreachable()
    } catch (err) {
      expect(err).toBeInstanceOf(GameInputError)
      expect((err as GameInputError).reason).toBe('success-length')
    }
  })
})
