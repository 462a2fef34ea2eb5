/**
 * A fixed 2-D projection of the embedding space for the dashboard's map: two
 * orthonormal directions drawn from a seed named after the embedder, so every
 * node of one network draws the same map.
 */
import { seededRng, gaussian } from '../core/rng.js'
import type { Profile } from '../core/types.js'

/** Names the projection on the wire, so a reader knows which map they look at. */
export const PROJECTION_NAME = 'seeded-random-directions-v1'

const cache = new Map<string, [Float64Array, Float64Array]>()

/** The two directions of the map for one embedding space (cached). */
export function mapDirections (embedderId: string, dim: number): [Float64Array, Float64Array] {
  const key = `${embedderId}|${dim}`
  const hit = cache.get(key)
  if (hit != null) return hit
  const rng = seededRng(`${PROJECTION_NAME}|${key}`)
  const u = Float64Array.from({ length: dim }, () => gaussian(rng))
  const v = Float64Array.from({ length: dim }, () => gaussian(rng))
  normalise(u)
  // Gram-Schmidt: v orthogonal to u, so the axes do not repeat each other.
  const uv = dot(u, v)
  for (let i = 0; i < dim; i++) v[i] -= uv * u[i]
  normalise(v)
  const dirs: [Float64Array, Float64Array] = [u, v]
  cache.set(key, dirs)
  return dirs
}

/** A centroid's place on the map. */
export function projectCentroid (centroid: ArrayLike<number>, embedderId: string): [number, number] {
  const [u, v] = mapDirections(embedderId, centroid.length)
  return [dot(u, centroid), dot(v, centroid)]
}

/** One prototype as a map point. */
export interface MapPoint {
  x: number
  y: number
  count: number
  /** Beta posterior mean α / (α + β). */
  quality: number
}

/** The map points of a whole profile. */
export function projectProfile (profile: Profile): MapPoint[] {
  return profile.prototypes.map(p => {
    const [x, y] = projectCentroid(p.centroid, profile.embedderId)
    return { x, y, count: p.count, quality: p.alpha / (p.alpha + p.beta) }
  })
}

function dot (a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0
  for (let i = 0; i < a.length; i++) s += a[i] * b[i]
  return s
}

function normalise (a: Float64Array): void {
  const n = Math.sqrt(dot(a, a)) || 1
  for (let i = 0; i < a.length; i++) a[i] /= n
}
