/**
 * The network between peers: a fixed round trip per pair of peers, drawn once
 * from the seed (stateless, so 10,000 agents need no N x N table).
 */
import { fnv1a32 } from '../core/rng.js'

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
  const u = fnv1a32(`${lo}:${hi}`, (seed ^ 0x51ed270b) >>> 0) / 4294967296
  return params.rttMinMs + (params.rttMaxMs - params.rttMinMs) * u
}
