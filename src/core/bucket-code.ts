/**
 * Finding candidate agents without scoring every agent (ARCHITECTURE.md §4).
 *
 * A network-wide locality-sensitive code: `tables` sets of `bits` random
 * hyperplanes, drawn from `seededRng(networkId)`, so every node of a network
 * computes the same bucket keys. An agent announces each prototype under its
 * key in every table (a DHT provider record per key); a query probes its own
 * bucket in each table and the neighbouring buckets across its least certain
 * hyperplanes (multi-probe LSH), then scores only the agents found there.
 */
import { seededRng } from './rng.js'

/** Shape of a bucket code. */
export interface BucketCodeOptions {
  /** Independent hash tables (default 8). More tables: better recall, more keys to announce. */
  tables?: number
  /** Hyperplanes per table, 1..16 (default 8): the key's bits. */
  bits?: number
}

/** How widely a query probes. */
export interface ProbeOptions {
  /** 0: own bucket only; 1 (default): also each bucket one flipped bit away; 2: also two bits away among the least certain. */
  radius?: number
  /** With radius 1 or more, flip only the this many least certain bits per table (default: all bits for radius 1, 5 for radius 2). */
  flipBits?: number
}

/** The locality-sensitive code of one network: bucket keys for centroids and probe keys for queries. */
export class BucketCode {
  readonly networkId: string
  readonly dim: number
  readonly tables: number
  readonly bits: number
  /** Hyperplane normals, table-major: `planes[(t * bits + b) * dim + i]`. */
  private readonly planes: Float32Array

  constructor (networkId: string, dim: number, opts: BucketCodeOptions = {}) {
    const tables = opts.tables ?? 8
    const bits = opts.bits ?? 8
    if (!Number.isInteger(tables) || tables < 1 || tables > 64) throw new RangeError(`tables must be 1..64, got ${tables}`)
    if (!Number.isInteger(bits) || bits < 1 || bits > 16) throw new RangeError(`bits must be 1..16, got ${bits}`)
    this.networkId = networkId
    this.dim = dim
    this.tables = tables
    this.bits = bits
    // The seed names the code's shape too: two codes of different shape never share keys by accident.
    const rng = seededRng(`ppai-lsh:${networkId}:d${dim}:t${tables}:b${bits}`)
    this.planes = new Float32Array(tables * bits * dim)
    // Near-Gaussian normals from sums of four uniforms: only additions, so every engine draws the same planes (Math.log/cos may differ in the last bit).
    for (let i = 0; i < this.planes.length; i++) this.planes[i] = rng() + rng() + rng() + rng() - 2
  }

  /** Signed distances of `v` to every hyperplane, table-major. */
  project (v: Float32Array): Float64Array {
    const out = new Float64Array(this.tables * this.bits)
    const d = this.dim
    for (let h = 0; h < out.length; h++) {
      let s = 0
      const base = h * d
      for (let i = 0; i < d; i++) s += this.planes[base + i] * v[i]
      out[h] = s
    }
    return out
  }

  /** The bucket of `v` in each table, as integers. */
  buckets (v: Float32Array): number[] {
    const proj = this.project(v)
    const out: number[] = []
    for (let t = 0; t < this.tables; t++) {
      let code = 0
      for (let b = 0; b < this.bits; b++) if (proj[t * this.bits + b] >= 0) code |= 1 << b
      out.push(code)
    }
    return out
  }

  /** The printable key of bucket `code` in table `t`, e.g. `t3:0a1f`; usable as a DHT key. */
  key (t: number, code: number): string {
    return `t${t}:${code.toString(16).padStart(Math.ceil(this.bits / 4), '0')}`
  }

  /** The keys a prototype with this centroid is announced under: one per table. */
  keysFor (centroid: Float32Array): string[] {
    return this.buckets(centroid).map((code, t) => this.key(t, code))
  }

  /** The keys a query probes: its own bucket per table first, then neighbours across its least certain bits. */
  probeKeys (embedding: Float32Array, opts: ProbeOptions = {}): string[] {
    return this.probeBuckets(embedding, opts).map(([t, code]) => this.key(t, code))
  }

  /** Like {@link probeKeys}, as `[table, code]` pairs (no string building: the in-memory index's hot path). */
  probeBuckets (embedding: Float32Array, opts: ProbeOptions = {}): Array<[number, number]> {
    const radius = opts.radius ?? 1
    const proj = this.project(embedding)
    const own: Array<[number, number]> = []
    const near: Array<[number, number]> = []
    for (let t = 0; t < this.tables; t++) {
      let code = 0
      const order: number[] = []
      for (let b = 0; b < this.bits; b++) {
        if (proj[t * this.bits + b] >= 0) code |= 1 << b
        order.push(b)
      }
      own.push([t, code])
      if (radius < 1) continue
      // Least certain first: the bits whose hyperplane passes closest to the query.
      order.sort((x, y) => Math.abs(proj[t * this.bits + x]) - Math.abs(proj[t * this.bits + y]))
      const flip = Math.min(this.bits, opts.flipBits ?? (radius >= 2 ? 5 : this.bits))
      for (let i = 0; i < flip; i++) near.push([t, code ^ (1 << order[i])])
      if (radius >= 2) {
        for (let i = 0; i < flip; i++) for (let j = i + 1; j < flip; j++) near.push([t, code ^ (1 << order[i]) ^ (1 << order[j])])
      }
    }
    return own.concat(near)
  }
}
