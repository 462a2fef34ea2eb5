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

/*
 * Several dot products at once: four rows share each load of `v`, and four
 * independent sums hide the latency of the additions (the scans are bound by
 * it). Each row is still summed from index 0 upwards, one term at a time, so
 * every result is bit-identical to {@link dot} of that row.
 */

/** `out[r] = dot(row first + r of a flat matrix of rows of length d, v)` for r < count. */
export function dotRows (matrix: Float32Array, d: number, first: number, count: number, v: Float32Array, out: Float64Array): void {
  let r = 0
  for (; r + 4 <= count; r += 4) {
    const b0 = (first + r) * d
    dot4(matrix, b0, matrix, b0 + d, matrix, b0 + 2 * d, matrix, b0 + 3 * d, d, v, out, r)
  }
  for (; r < count; r++) out[r] = dotFrom(matrix, (first + r) * d, d, v)
}

/** `out[j] = dot(row rows[j] of a flat matrix, v)` for j < count: rows picked by index. */
export function dotGather (matrix: Float32Array, d: number, rows: ArrayLike<number>, count: number, v: Float32Array, out: Float64Array): void {
  let j = 0
  for (; j + 4 <= count; j += 4) dot4(matrix, rows[j] * d, matrix, rows[j + 1] * d, matrix, rows[j + 2] * d, matrix, rows[j + 3] * d, d, v, out, j)
  for (; j < count; j++) out[j] = dotFrom(matrix, rows[j] * d, d, v)
}

/** `out[j] = dot(vectors[j], v)` for j < count (each over the shorter of the two lengths, as {@link dot}). */
export function dotEach (vectors: ArrayLike<Float32Array>, count: number, v: Float32Array, out: Float64Array): void {
  const d = v.length
  let j = 0
  for (; j + 4 <= count; j += 4) {
    const a0 = vectors[j]
    const a1 = vectors[j + 1]
    const a2 = vectors[j + 2]
    const a3 = vectors[j + 3]
    if (a0.length < d || a1.length < d || a2.length < d || a3.length < d) break
    dot4(a0, 0, a1, 0, a2, 0, a3, 0, d, v, out, j)
  }
  for (; j < count; j++) out[j] = dot(vectors[j], v)
}

/** The four dot products of `d` terms from a0[b0], …, a3[b3] with v, into out[at … at + 3], each summed from its first term. */
function dot4 (a0: Float32Array, b0: number, a1: Float32Array, b1: number, a2: Float32Array, b2: number, a3: Float32Array, b3: number, d: number, v: Float32Array, out: Float64Array, at: number): void {
  let s0 = 0
  let s1 = 0
  let s2 = 0
  let s3 = 0
  for (let i = 0; i < d; i++) {
    const x = v[i]
    s0 += a0[b0 + i] * x
    s1 += a1[b1 + i] * x
    s2 += a2[b2 + i] * x
    s3 += a3[b3 + i] * x
  }
  out[at] = s0
  out[at + 1] = s1
  out[at + 2] = s2
  out[at + 3] = s3
}

/** The dot product of `d` terms from a[b] with v. */
function dotFrom (a: Float32Array, b: number, d: number, v: Float32Array): number {
  let s = 0
  for (let i = 0; i < d; i++) s += a[b + i] * v[i]
  return s
}
