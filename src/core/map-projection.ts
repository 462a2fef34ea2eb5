/**
 * The one 2-D projection of the embedding space, for the dashboard's map: two
 * random directions drawn from a fixed seed, so every node draws the same map.
 * The node places its peers' prototypes with it (`centroid2d`, net/node.ts)
 * and the API its own (`/api/map`), so both share one map; a test checks
 * that two nodes agree.
 */
import { prototypeQuality } from './prototypes.js'
import { gaussian, seededRng } from './rng.js'
import type { Profile } from './types.js'

/** Names the projection on the wire, so a reader knows which map they look at. */
export const PROJECTION_NAME = 'seeded random directions (ppai-map-2d)'
const SEED = 'ppai-map-2d'

const cache = new Map<number, [Float32Array, Float32Array]>()

/** The map's two directions for a dimension: N(0, 1/dim) entries, so a unit vector lands near the unit disc. */
export function mapDirections (dim: number): [Float32Array, Float32Array] {
  const hit = cache.get(dim)
  if (hit != null) return hit
  const rng = seededRng(SEED)
  const make = (): Float32Array => Float32Array.from({ length: dim }, () => gaussian(rng) / Math.sqrt(dim))
  const dirs: [Float32Array, Float32Array] = [make(), make()]
  cache.set(dim, dirs)
  return dirs
}

/** A centroid's place on the map. */
export function projectCentroid (centroid: ArrayLike<number>): [number, number] {
  const [u, v] = mapDirections(centroid.length)
  let x = 0
  let y = 0
  for (let i = 0; i < centroid.length; i++) {
    x += centroid[i] * u[i]
    y += centroid[i] * v[i]
  }
  return [x, y]
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
    const [x, y] = projectCentroid(p.centroid)
    return { x, y, count: p.count, quality: prototypeQuality(p) }
  })
}
