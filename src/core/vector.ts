/**
 * Small dense-vector helpers over `Float32Array`, shared by the embedder,
 * prototypes, scoring and retrieval. Plain loops: they are the hot path.
 */

/** Dot product over the shorter of the two lengths. */
export function dot (a: Float32Array, b: Float32Array): number {
  const n = Math.min(a.length, b.length)
  let s = 0
  for (let i = 0; i < n; i++) s += a[i] * b[i]
  return s
}

/** Euclidean norm. */
export function norm (a: Float32Array): number {
  return Math.sqrt(dot(a, a))
}

/** Cosine similarity; 0 when either vector is zero. */
export function cosine (a: Float32Array, b: Float32Array): number {
  const na = norm(a)
  const nb = norm(b)
  return na === 0 || nb === 0 ? 0 : dot(a, b) / (na * nb)
}

/** Scales `a` to unit length in place (a zero vector stays zero); returns `a`. */
export function normalize (a: Float32Array): Float32Array {
  const n = norm(a)
  if (n > 0) for (let i = 0; i < a.length; i++) a[i] /= n
  return a
}

/** `target += scale * v` in place; returns `target`. */
export function addScaled (target: Float32Array, v: Float32Array, scale: number): Float32Array {
  const n = Math.min(target.length, v.length)
  for (let i = 0; i < n; i++) target[i] += scale * v[i]
  return target
}

/** `a * (1 - t) + b * t`, as a new vector. */
export function lerp (a: Float32Array, b: Float32Array, t: number): Float32Array {
  const out = new Float32Array(a.length)
  for (let i = 0; i < a.length; i++) out[i] = a[i] + (b[i] - a[i]) * t
  return out
}

/** True when every component is a finite number. */
export function isFiniteVector (a: Float32Array): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return false
  return true
}
