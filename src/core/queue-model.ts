/**
 * The queue model behind load beliefs (beliefs.ts, ARCHITECTURE.md §5): how
 * a backlog read at one moment is carried forward to another, and how many
 * rivals place a delegated query in one decision window.
 */

/**
 * The expected number of other nodes placing a delegated query in one decision
 * window, from the arrival rates their beacons carry: Σ rate × window × share.
 *
 * @param arrivalRatesPerSec - per other node, queries per second
 * @param windowMs - the decision window: how long others' choices stay invisible (e.g. the beacon period)
 * @param delegatedShare - the fraction of those queries that are delegated rather than kept local (default 1, the worst case)
 */
export function expectedRivals (arrivalRatesPerSec: readonly number[], windowMs: number, delegatedShare = 1): number {
  let sum = 0
  for (const rate of arrivalRatesPerSec) {
    if (Number.isFinite(rate) && rate > 0) sum += rate
  }
  return sum * Math.max(0, windowMs) / 1000 * Math.min(1, Math.max(0, delegatedShare))
}

/**
 * Carries a backlog estimate `(mean0, variance0)` forward by `dtMs` for a queue
 * with the given arrival rate and mean service time (one server).
 *
 * Stable queue (ρ < 0.98): the mean relaxes toward the stationary M/M/1
 * backlog ρ/(1−ρ) — draining at the fluid slope μ−λ at first, filling in two
 * phases (the server gets busy at rate λ+μ, the rest at the M/M/1 relaxation
 * time 1/(μ(1−√ρ)²)); the variance grows from the random-walk rate λ + μ·P(busy)
 * and saturates at the stationary variance ρ/(1−ρ)². Against a simulated
 * M/M/1 queue (ρ 0.3–0.9, 1–10 s ahead) this has a lower squared error than
 * the stale value, and its variance matches that error within ~10%
 * (test/core/beliefs.test.ts). Overloaded queue: a random walk drifting at
 * λ−μ with variance growing at λ+μ.
 */
export function carryForward (mean0: number, variance0: number, dtMs: number, arrivalPerSec: number, serviceMs: number): { mean: number, variance: number } {
  return carryInto({ mean: 0, variance: 0 }, mean0, variance0, dtMs, arrivalPerSec, serviceMs)
}

/** {@link carryForward} into `out` (returned): the beliefs' own calls reuse one object. */
export function carryInto (out: { mean: number, variance: number }, mean0: number, variance0: number, dtMs: number, arrivalPerSec: number, serviceMs: number): { mean: number, variance: number } {
  const dt = Math.max(0, dtMs)
  if (dt === 0 || !(serviceMs > 0)) {
    out.mean = mean0
    out.variance = variance0
    return out
  }
  const lambda = Math.max(0, arrivalPerSec) / 1000 // per ms
  const mu = 1 / serviceMs
  const rho = lambda / mu
  if (rho < 0.98) {
    const meanInf = rho / (1 - rho)
    const varInf = rho / ((1 - rho) * (1 - rho))
    const tauSlowest = 1 / (mu * (1 - Math.sqrt(rho)) ** 2)
    const busy = Math.min(1, Math.max(0, mean0))
    let mean: number
    if (mean0 >= meanInf) {
      // Draining: starts at the fluid slope μ−λ, never slower than the slowest mode.
      const tau = Math.min(tauSlowest, (mean0 - meanInf) / (mu - lambda))
      mean = meanInf + (mean0 - meanInf) * (tau > 0 ? Math.exp(-dt / tau) : 0)
    } else {
      // Filling: the server gets busy fast (rate λ+μ, up to ρ), the rest relaxes slowly.
      const fastGap = Math.max(0, Math.min(meanInf - mean0, rho - busy))
      const slowGap = meanInf - mean0 - fastGap
      mean = meanInf - fastGap * Math.exp(-dt * (lambda + mu)) - slowGap * Math.exp(-dt / tauSlowest)
    }
    const growth = lambda + mu * busy
    const fresh = varInf > 0 ? varInf * (1 - Math.exp(-growth * dt / varInf)) : 0
    out.mean = mean
    out.variance = variance0 * Math.exp(-2 * dt / tauSlowest) + fresh
    return out
  }
  out.mean = Math.max(0, mean0 + (lambda - mu) * dt)
  out.variance = variance0 + (lambda + mu) * dt
  return out
}
