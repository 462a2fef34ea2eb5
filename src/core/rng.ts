/**
 * Seeded random numbers for everything that must be reproducible: the same
 * seed gives the same sequence on every machine (mulberry32 over a 32-bit
 * state; sufficient for simulation, not for cryptography).
 */
import type { Rng } from './types.js'

/** FNV-1a 32-bit hash of a string: stable seeds and hash keys from names. */
export function fnv1a32 (text: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/** A seeded uniform generator in [0, 1). A string seed is hashed first. */
export function seededRng (seed: number | string): Rng {
  let state = (typeof seed === 'string' ? fnv1a32(seed) : seed) >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A standard normal draw (Box–Muller). */
export function gaussian (rng: Rng): number {
  const u = 1 - rng()
  const v = rng()
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v)
}

/** An exponential draw with the given mean. */
export function exponential (rng: Rng, mean: number): number {
  return -Math.log(1 - rng()) * mean
}

/** Fisher–Yates shuffle of a copy. */
export function shuffled<T> (items: readonly T[], rng: Rng): T[] {
  const out = items.slice()
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1))
    const tmp = out[i]
    out[i] = out[j]
    out[j] = tmp
  }
  return out
}
