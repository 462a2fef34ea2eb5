/**
 * The candidate index's cells and selections (retrieval.ts): the two-level
 * tree of cells learnt by spherical k-means, the queue of leaves a query
 * scans nearest first, and the top-k selections of its scores.
 */
import { dotRows } from './vector.js'

/** Rounds of each k-means. */
const TRAIN_ROUNDS = 4

/**
 * Leaves nearest first, ties in the order listed (as a stable sort would
 * give them), from a binary heap: a query takes about a quarter of them, so
 * sorting them all would be wasted.
 */
export class LeafQueue {
  private readonly heap: Int32Array
  private size: number

  constructor (private readonly leafIds: number[], private readonly sims: Float64Array) {
    this.size = leafIds.length
    this.heap = new Int32Array(this.size)
    for (let i = 0; i < this.size; i++) this.heap[i] = i
    for (let i = (this.size >> 1) - 1; i >= 0; i--) this.down(i)
  }

  /** The next nearest leaf, or -1 when none is left. */
  next (): number {
    if (this.size === 0) return -1
    const top = this.heap[0]
    this.heap[0] = this.heap[--this.size]
    this.down(0)
    return this.leafIds[top]
  }

  /** Whether listed position a comes before b: nearer, or as near and listed first. */
  private before (a: number, b: number): boolean {
    const sa = this.sims[a]
    const sb = this.sims[b]
    return sa > sb || (sa === sb && a < b)
  }

  private down (i: number): void {
    const h = this.heap
    for (;;) {
      const l = 2 * i + 1
      if (l >= this.size) return
      const c = l + 1 < this.size && this.before(h[l + 1], h[l]) ? l + 1 : l
      if (!this.before(h[c], h[i])) return
      const t = h[i]
      h[i] = h[c]
      h[c] = t
      i = c
    }
  }
}

/**
 * The `k` of `slots` with the highest `score[slot]`, ties to the lowest slot:
 * the first `k` of the list sorted that way, in no particular order (the
 * caller sorts what it makes of them). A numeric sort of the scores finds the
 * threshold; only the ties at it need their slots compared.
 */
export function best (slots: number[], score: Float64Array, k: number): number[] {
  if (k >= slots.length) return slots
  if (k <= 0) return []
  const keys = new Float64Array(slots.length)
  for (let i = 0; i < slots.length; i++) keys[i] = score[slots[i]]
  const threshold = select(keys, slots.length - k)
  const out: number[] = []
  const ties: number[] = []
  for (const s of slots) {
    if (score[s] > threshold) out.push(s)
    else if (score[s] === threshold) ties.push(s)
  }
  ties.sort((a, b) => a - b)
  for (let i = 0; out.length < k; i++) out.push(ties[i])
  return out
}

/** The value that would sit at `rank` were `keys` sorted ascending (reorders `keys`): quickselect, linear on average. */
function select (keys: Float64Array, rank: number): number {
  let lo = 0
  let hi = keys.length - 1
  while (hi > lo) {
    // Median of three as the pivot: scores arrive in no adversarial order.
    const mid = (lo + hi) >> 1
    const a = keys[lo]
    const b = keys[mid]
    const c = keys[hi]
    const pivot = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b))
    let i = lo
    let j = hi
    while (i <= j) {
      while (keys[i] < pivot) i++
      while (keys[j] > pivot) j--
      if (i <= j) {
        const t = keys[i]
        keys[i] = keys[j]
        keys[j] = t
        i++
        j--
      }
    }
    if (rank <= j) hi = j
    else if (rank >= i) lo = i
    else return keys[rank]
  }
  return keys[rank]
}

/** Whether candidate a ranks before b: a higher score, or as high and a lower id. */
export function ranksBefore (a: { agentId: string, score: number }, b: { agentId: string, score: number }): boolean {
  return a.score > b.score || (a.score === b.score && a.agentId < b.agentId)
}

/**
 * Puts candidate `c` into `out`, which holds at most `keep` candidates best first (by {@link ranksBefore}): the same
 * as sorting everything seen and cutting. False, and `out` unchanged, when `out` is full and `c` ranks after its last.
 */
export function keepRanked (out: Array<{ agentId: string, score: number }>, c: { agentId: string, score: number }, keep: number): boolean {
  if (out.length === keep && !ranksBefore(c, out[keep - 1])) return false
  let at = out.length < keep ? out.length : keep - 1
  if (out.length < keep) out.push(c)
  while (at > 0 && ranksBefore(c, out[at - 1])) { out[at] = out[at - 1]; at-- }
  out[at] = c
  return true
}

/** Indices of the `k` largest of `n` values, largest first. */
export function topK (n: number, value: (i: number) => number, k: number): number[] {
  const idx: number[] = []
  const val: number[] = []
  for (let i = 0; i < n; i++) {
    const v = value(i)
    if (idx.length === k && v <= val[k - 1]) continue
    let pos = idx.length === k ? k - 1 : idx.length
    if (idx.length < k) { idx.push(i); val.push(v) }
    while (pos > 0 && val[pos - 1] < v) { idx[pos] = idx[pos - 1]; val[pos] = val[pos - 1]; pos-- }
    idx[pos] = i
    val[pos] = v
  }
  return idx
}

/** Row of a flat matrix of unit rows with the largest dot product with `v` (the first on ties). */
export function nearestRow (matrix: Float32Array, v: Float32Array, d: number): number {
  const rows = matrix.length / d
  let best = 0
  let bestDot = -Infinity
  for (let r = 0; r < rows; r += 4) {
    const n = Math.min(4, rows - r)
    dotRows(matrix, d, r, n, v, rowSims)
    for (let j = 0; j < n; j++) if (rowSims[j] > bestDot) { bestDot = rowSims[j]; best = r + j }
  }
  return best
}

/** Four sums of {@link nearestRow}: module scratch, as core code runs on one thread per module instance. */
const rowSims = new Float64Array(4)

/** Unit centroids of leaves of about `leafSize` of `points`: k-means, recursing into parts that stay too large (depth ≤ 3). */
export function splitCell (points: Float32Array[], leafSize: number, d: number, depth: number): Float32Array[] {
  if (points.length <= 2 * leafSize || depth >= 3) return [kmeans(points, 1, d)]
  const k = Math.min(16, Math.ceil(points.length / leafSize))
  const cs = kmeans(points, k, d)
  const parts: Float32Array[][] = Array.from({ length: k }, () => [])
  for (const p of points) parts[nearestRow(cs, p, d)].push(p)
  if (parts.some(part => part.length === points.length)) return [kmeans(points, 1, d)]
  return parts.filter(part => part.length > 0).flatMap(part => splitCell(part, leafSize, d, depth + 1))
}

/** Spherical k-means (cosine) of unit vectors: `k` unit centroids, flat; the first `k` points seed it (callers shuffle). */
export function kmeans (points: Float32Array[], k: number, d: number): Float32Array {
  const out = new Float32Array(k * d)
  for (let c = 0; c < k; c++) out.set(points[c % points.length], c * d)
  for (let round = 0; round < TRAIN_ROUNDS; round++) {
    const sums = new Float64Array(k * d)
    const counts = new Int32Array(k)
    for (const p of points) {
      const c = nearestRow(out, p, d)
      counts[c]++
      for (let i = 0; i < d; i++) sums[c * d + i] += p[i]
    }
    for (let c = 0; c < k; c++) {
      if (counts[c] === 0) continue
      let sq = 0
      for (let i = 0; i < d; i++) sq += sums[c * d + i] * sums[c * d + i]
      const inv = sq > 0 ? 1 / Math.sqrt(sq) : 0
      for (let i = 0; i < d; i++) out[c * d + i] = sums[c * d + i] * inv
    }
  }
  return out
}
