/**
 * Finding candidate agents without scoring every agent (DESIGN §4).
 *
 * A network-wide locality-sensitive code: `tables` sets of `bits` random
 * hyperplanes, drawn from `seededRng(networkId)`, so every node of a network
 * computes the same bucket keys. An agent announces each prototype under its
 * key in every table (a DHT provider record per key); a query probes its own
 * bucket in each table and the neighbouring buckets across its least certain
 * hyperplanes (multi-probe LSH), then scores only the agents found there.
 */
import { gaussian, seededRng } from './rng.js'
import { DEFAULT_PRIOR, kernelWeight, posterior, type ScoringOptions } from './scoring.js'
import type { Profile } from './types.js'

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
    for (let i = 0; i < this.planes.length; i++) this.planes[i] = gaussian(rng)
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

/** Options of {@link CandidateIndex}. */
export interface CandidateIndexOptions extends ScoringOptions {
  /** How queries probe the code (default radius 1). */
  probe?: ProbeOptions
  /** Agents scored exactly per query, the ones with most bucket hits first (default 256). */
  maxScored?: number
}

interface Entry {
  agentId: string
  slot: number
  profile: Profile
  /** Global prototype ids, one per prototype of the profile. */
  protoIds: number[]
}

/**
 * An in-memory index of agents' profiles by bucket, for a node's cache or the
 * simulator: `candidates(embedding)` probes the buckets, counts hits per
 * agent, scores the most-hit agents exactly (the same kernel and prior as
 * `predictSuccess`) and returns the best ids.
 */
export class CandidateIndex {
  readonly code: BucketCode
  private readonly opts: CandidateIndexOptions
  /** Bucket (`table * 2^bits + code`) to the prototype ids announced there. */
  private readonly buckets = new Map<number, Set<number>>()
  private readonly agents = new Map<string, Entry>()
  /** Prototype id to agent slot; slots are reused after removal. */
  private protoAgent: Int32Array = new Int32Array(1024)
  private protoBuckets: number[][] = []
  private freeProtoIds: number[] = []
  private nextProtoId = 0
  private slots: Array<Entry | undefined> = []
  private freeSlots: number[] = []
  /** Per-slot hit counters, reset after every query through `touched`. */
  private hits: Int32Array = new Int32Array(1024)

  constructor (code: BucketCode, opts: CandidateIndexOptions = {}) {
    this.code = code
    this.opts = opts
  }

  /** Number of agents indexed. */
  get size (): number {
    return this.agents.size
  }

  /** The indexed profile of `agentId`, if any. */
  profileOf (agentId: string): Profile | undefined {
    return this.agents.get(agentId)?.profile
  }

  /** Adds or replaces an agent's profile (profiles of another dimension are refused). */
  upsert (agentId: string, profile: Profile): void {
    if (profile.dim !== this.code.dim) throw new RangeError(`profile of ${agentId} has ${profile.dim} dims, the code ${this.code.dim}`)
    this.remove(agentId)
    const slot = this.freeSlots.pop() ?? this.slots.length
    const entry: Entry = { agentId, slot, profile, protoIds: [] }
    this.slots[slot] = entry
    if (slot >= this.hits.length) this.hits = grow(this.hits, slot + 1)
    for (const p of profile.prototypes) {
      const id = this.freeProtoIds.pop() ?? this.nextProtoId++
      if (id >= this.protoAgent.length) this.protoAgent = grow(this.protoAgent, id + 1)
      this.protoAgent[id] = slot
      const keys = this.code.buckets(p.centroid).map((c, t) => this.bucketId(t, c))
      this.protoBuckets[id] = keys
      for (const k of keys) {
        let set = this.buckets.get(k)
        if (set == null) { set = new Set(); this.buckets.set(k, set) }
        set.add(id)
      }
      entry.protoIds.push(id)
    }
    this.agents.set(agentId, entry)
  }

  /** Removes an agent (no-op when absent). */
  remove (agentId: string): void {
    const entry = this.agents.get(agentId)
    if (entry == null) return
    for (const id of entry.protoIds) {
      for (const k of this.protoBuckets[id]) {
        const set = this.buckets.get(k)
        set?.delete(id)
        if (set?.size === 0) this.buckets.delete(k)
      }
      this.protoBuckets[id] = []
      this.protoAgent[id] = -1
      this.freeProtoIds.push(id)
    }
    this.slots[entry.slot] = undefined
    this.freeSlots.push(entry.slot)
    this.agents.delete(agentId)
  }

  /**
   * Up to `limit` agent ids likely to score best on `embedding`, best first.
   * Only agents with a prototype in a probed bucket are considered.
   */
  candidates (embedding: Float32Array, limit = 10): string[] {
    return this.rankedCandidates(embedding, limit).map(c => c.agentId)
  }

  /** Like {@link candidates}, with each agent's predicted success mean. */
  rankedCandidates (embedding: Float32Array, limit = 10): Array<{ agentId: string, score: number }> {
    const probes = this.code.probeBuckets(embedding, this.opts.probe)
    const touched: number[] = []
    const hits = this.hits
    for (const [t, c] of probes) {
      const set = this.buckets.get(this.bucketId(t, c))
      if (set == null) continue
      for (const id of set) {
        const slot = this.protoAgent[id]
        if (hits[slot] === 0) touched.push(slot)
        hits[slot] += 1
      }
    }
    const maxScored = this.opts.maxScored ?? 256
    let chosen = touched
    if (touched.length > maxScored) {
      chosen = touched.slice().sort((a, b) => hits[b] - hits[a] || a - b).slice(0, maxScored)
    }
    const scored: Array<{ agentId: string, score: number }> = []
    for (const slot of chosen) {
      const entry = this.slots[slot]
      if (entry != null) scored.push({ agentId: entry.agentId, score: this.score(entry.profile, embedding) })
    }
    for (const slot of touched) hits[slot] = 0
    scored.sort((a, b) => b.score - a.score || (a.agentId < b.agentId ? -1 : 1))
    return scored.slice(0, limit)
  }

  /** `predictSuccess(profile, embedding).mean`, inlined for the hot path (same kernel, neighbours and prior). */
  private score (profile: Profile, embedding: Float32Array): number {
    const k = this.opts.neighbours ?? 3
    const a0 = this.opts.prototypePrior?.alpha ?? 1
    const b0 = this.opts.prototypePrior?.beta ?? 1
    const ps = profile.prototypes
    const d = embedding.length
    const sims: number[] = []
    const idx: number[] = []
    for (let i = 0; i < ps.length; i++) {
      const c = ps[i].centroid
      let s = 0
      for (let j = 0; j < d; j++) s += c[j] * embedding[j]
      let pos = sims.length
      while (pos > 0 && sims[pos - 1] < s) pos--
      if (pos < k) {
        sims.splice(pos, 0, s)
        idx.splice(pos, 0, i)
        if (sims.length > k) { sims.pop(); idx.pop() }
      }
    }
    let successes = 0
    let failures = 0
    for (let j = 0; j < idx.length; j++) {
      const p = ps[idx[j]]
      const w = kernelWeight(sims[j], this.opts)
      successes += w * Math.max(0, p.alpha - a0)
      failures += w * Math.max(0, p.beta - b0)
    }
    return posterior(this.opts.prior ?? DEFAULT_PRIOR, successes, failures).mean
  }

  private bucketId (t: number, code: number): number {
    return t * (1 << this.code.bits) + code
  }
}

function grow (a: Int32Array, atLeast: number): Int32Array {
  const out = new Int32Array(Math.max(atLeast, a.length * 2))
  out.set(a)
  return out
}
