/**
 * The network between peers: a fixed round trip per pair of peers, drawn once
 * from the seed (stateless, so 10,000 agents need no N x N table).
 */

/** Parameters of the network model. */
export interface NetworkParams {
  /** Round trip per pair: uniform in [min, max] ms. */
  rttMinMs: number
  rttMaxMs: number
  /** Time for a beacon to reach other peers over gossip, ms. */
  gossipDelayMs: number
  /** Time until a dial to a peer that has left fails, ms. */
  dialFailureMs: number
}

/** Round trip between peers `a` and `b` (symmetric), ms. */
export function roundTripMs (params: NetworkParams, seed: number, a: number, b: number): number {
  const lo = a < b ? a : b
  const hi = a < b ? b : a
  const u = pairHash(lo, hi, (seed ^ 0x51ed270b) >>> 0) / 4294967296
  return params.rttMinMs + (params.rttMaxMs - params.rttMinMs) * u
}

/**
 * `fnv1a32(`${lo}:${hi}`, seed)` for non-negative integers, without building
 * the string: the round trip is asked for on every message of a run.
 */
export function pairHash (lo: number, hi: number, seed: number): number {
  let h = hashDigits(seed >>> 0, lo)
  h = Math.imul(h ^ 58, 0x01000193) // ':'
  return hashDigits(h, hi) >>> 0
}

/** FNV-1a steps over the decimal digits of the non-negative integer `n`, most significant first. */
function hashDigits (h: number, n: number): number {
  if (n >= 10) h = hashDigits(h, Math.floor(n / 10))
  return Math.imul(h ^ (48 + n % 10), 0x01000193)
}
