/**
 * Churn: every agent alternates online and offline sessions of exponential
 * length. Offline means gone from the network: it serves no remote query and
 * sends no beacon, while its owner's own queries are still answered on the
 * device itself.
 */
import { exponential } from '../core/rng.js'
import type { Rng } from '../core/types.js'

/** Parameters of the on/off session model. */
export interface ChurnParams {
  enabled: boolean
  /** Mean online session, ms. */
  meanOnlineMs: number
  /** Mean offline period, ms. */
  meanOfflineMs: number
}

/** Long-run fraction of time an agent is online. */
export function onlineFraction (p: ChurnParams): number {
  return p.enabled ? p.meanOnlineMs / (p.meanOnlineMs + p.meanOfflineMs) : 1
}

/** Whether an agent starts online (stationary start). */
export function startsOnline (p: ChurnParams, rng: Rng): boolean {
  return !p.enabled || rng() < onlineFraction(p)
}

/** Length of the next session in the given state, ms (Infinity without churn). */
export function sessionLengthMs (p: ChurnParams, online: boolean, rng: Rng): number {
  if (!p.enabled) return Infinity
  return exponential(rng, online ? p.meanOnlineMs : p.meanOfflineMs)
}
