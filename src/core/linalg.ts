/**
 * Small dense linear algebra: orthonormalising the columns of a tall matrix
 * and the eigen-decomposition of a small symmetric one (fitting embedding
 * spaces), and the solves of the game's Newton steps (Cholesky, Gaussian
 * elimination with pivoting). Row-major `Float64Array`s; deterministic
 * (fixed loop order).
 */

/**
 * Orthonormalises in place the `cols` columns of the row-major `rows × cols`
 * matrix `a` by modified Gram–Schmidt (twice, for the accuracy a single pass
 * loses on nearly dependent columns). A column that vanishes becomes zero.
 */
export function orthonormalizeColumns (a: Float64Array, rows: number, cols: number): void {
  for (let pass = 0; pass < 2; pass++) {
    for (let j = 0; j < cols; j++) {
      for (let i = 0; i < j; i++) {
        let d = 0
        for (let r = 0; r < rows; r++) d += a[r * cols + i] * a[r * cols + j]
        for (let r = 0; r < rows; r++) a[r * cols + j] -= d * a[r * cols + i]
      }
      let sq = 0
      for (let r = 0; r < rows; r++) sq += a[r * cols + j] * a[r * cols + j]
      const inv = sq > 1e-24 ? 1 / Math.sqrt(sq) : 0
      for (let r = 0; r < rows; r++) a[r * cols + j] *= inv
    }
  }
}

/**
 * Eigen-decomposition of the symmetric `n × n` matrix `s` (row-major, not
 * modified) by cyclic Jacobi rotations: eigenvalues in descending order and
 * the matching unit eigenvectors as the columns of a row-major `n × n` matrix.
 */
export function symmetricEigen (s: Float64Array, n: number): { values: Float64Array, vectors: Float64Array } {
  const a = Float64Array.from(s)
  const v = new Float64Array(n * n)
  for (let i = 0; i < n; i++) v[i * n + i] = 1
  for (let sweep = 0; sweep < 60; sweep++) {
    let off = 0
    let diag = 0
    for (let i = 0; i < n; i++) {
      diag += a[i * n + i] * a[i * n + i]
      for (let j = i + 1; j < n; j++) off += a[i * n + j] * a[i * n + j]
    }
    if (off <= 1e-22 * diag || off === 0) break
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q]
        if (Math.abs(apq) < 1e-300) continue
        const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq)
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1))
        const c = 1 / Math.sqrt(t * t + 1)
        const sn = t * c
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p]
          const akq = a[k * n + q]
          a[k * n + p] = c * akp - sn * akq
          a[k * n + q] = sn * akp + c * akq
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k]
          const aqk = a[q * n + k]
          a[p * n + k] = c * apk - sn * aqk
          a[q * n + k] = sn * apk + c * aqk
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p]
          const vkq = v[k * n + q]
          v[k * n + p] = c * vkp - sn * vkq
          v[k * n + q] = sn * vkp + c * vkq
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => a[y * n + y] - a[x * n + x] || x - y)
  const values = new Float64Array(n)
  const vectors = new Float64Array(n * n)
  order.forEach((from, to) => {
    values[to] = a[from * n + from]
    for (let k = 0; k < n; k++) vectors[k * n + to] = v[k * n + from]
  })
  return { values, vectors }
}

/**
 * Solves A y = b for a symmetric positive definite A given by its upper
 * triangle (row-major, n×n): A = RᵀR with R upper triangular, written over
 * A's upper triangle; the solution replaces b. False when A is not positive definite.
 */
export function choleskySolveInPlace (A: Float64Array, b: Float64Array, n: number): boolean {
  for (let i = 0; i < n; i++) {
    const ir = i * n
    let d = A[ir + i]
    for (let k = 0; k < i; k++) d -= A[k * n + i] * A[k * n + i]
    if (!(d > 0)) return false
    const rii = Math.sqrt(d)
    A[ir + i] = rii
    for (let j = i + 1; j < n; j++) {
      let v = A[ir + j]
      for (let k = 0; k < i; k++) v -= A[k * n + i] * A[k * n + j]
      A[ir + j] = v / rii
    }
  }
  // Rᵀz = b, then R y = z.
  for (let i = 0; i < n; i++) {
    let v = b[i]
    for (let k = 0; k < i; k++) v -= A[k * n + i] * b[k]
    b[i] = v / A[i * n + i]
  }
  for (let i = n - 1; i >= 0; i--) {
    let v = b[i]
    for (let k = i + 1; k < n; k++) v -= A[i * n + k] * b[k]
    b[i] = v / A[i * n + i]
  }
  return true
}

/** Gaussian elimination with partial pivoting on a flat n×n matrix M; the solution replaces b. False when singular. Overwrites M. */
export function solveInPlace (M: Float64Array, b: Float64Array, n: number): boolean {
  for (let col = 0; col < n; col++) {
    let pivot = col
    for (let r = col + 1; r < n; r++) if (Math.abs(M[r * n + col]) > Math.abs(M[pivot * n + col])) pivot = r
    if (Math.abs(M[pivot * n + col]) < 1e-14) return false
    if (pivot !== col) {
      for (let k = 0; k < n; k++) {
        const tmp = M[pivot * n + k]
        M[pivot * n + k] = M[col * n + k]
        M[col * n + k] = tmp
      }
      const tb = b[pivot]
      b[pivot] = b[col]
      b[col] = tb
    }
    const d = M[col * n + col]
    for (let r = col + 1; r < n; r++) {
      const f = M[r * n + col] / d
      if (f === 0) continue
      for (let k = col; k < n; k++) M[r * n + k] -= f * M[col * n + k]
      b[r] -= f * b[col]
    }
  }
  for (let r = n - 1; r >= 0; r--) {
    let acc = b[r]
    for (let k = r + 1; k < n; k++) acc -= M[r * n + k] * b[k]
    b[r] = acc / M[r * n + r]
  }
  return true
}

/** The largest absolute value of the first `n` entries. */
export function maxAbs (v: Float64Array, n: number): number {
  let m = 0
  for (let i = 0; i < n; i++) m = Math.max(m, Math.abs(v[i]))
  return m
}

/** The squared Euclidean norm of the first `n` entries. */
export function norm2 (v: Float64Array, n: number): number {
  let s = 0
  for (let i = 0; i < n; i++) s += v[i] * v[i]
  return s
}
