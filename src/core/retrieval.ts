/**
 * The candidate index (ARCHITECTURE.md §4): every profile a node knows,
 * found through the bucket code's buckets (`bucket-code.ts`) and ranked by
 * the same predicted success the router uses, so that a query scores only
 * the agents near it instead of every agent.
 */
import { BucketCode } from './bucket-code.js'
import { seededRng, shuffled } from './rng.js'
import { DensityScores } from './density-scores.js'
import { calibratedSuccess } from './expertise.js'
import { DEFAULT_PRIOR, kernelWeight, mixtureEstimate, posterior, type ScoringOptions } from './scoring.js'
import type { Profile } from './types.js'
import { best, keepRanked, kmeans, LeafQueue, nearestRow, ranksBefore, splitCell, topK } from './index-cells.js'
import { dotGather, dotRows } from './vector.js'

/** Options of {@link CandidateIndex}. */
export interface CandidateIndexOptions extends ScoringOptions {
  /** Top-level cells of the index (default 16); each is split into leaves of about `leafSize` prototypes of the training sample (default 8). */
  cells?: number
  leafSize?: number
  /** Top-level cells a query descends into (default 16: all). */
  probeCells?: number
  /** Prototypes a query scans at least, nearest leaves first (default 15% of those held, at least 2048: recall@5 0.92 on 10,000 MMLU agents; see bench:core for the curve). */
  scanBudget?: number
  /** Prototypes sampled to learn the cells (default 4096). */
  trainSample?: number
  /** Below this many prototypes the index scans them all: exact, and cheap at that size (default 2048). */
  exactBelow?: number
  /** Agents re-scored exactly over all their prototypes, the best by their scanned prototypes first (default 16 × limit, at least 128; every scanned agent when the scan was exhaustive). */
  rescore?: number
}

interface Entry {
  agentId: string
  /** Its slot in the cells' arrays; -1 for a profile held by the exact density scores instead. */
  slot: number
  profile: Profile
  /** Prototype ids, one per prototype of the profile. */
  protoIds: number[]
}

/** Prototypes sampled to train the cells: enough for 256 leaves, cheap to cluster. */
const TRAIN_SAMPLE = 4096

/**
 * An in-memory index of agents' profiles, for a node's cache of fetched
 * profiles and for the simulator: `candidates(embedding)` returns the agents
 * that `predictSuccess` would rank best, without scoring every agent.
 *
 * Why not probe the {@link BucketCode} here: with the hashing embedder, a
 * query's best prototypes sit at cosine 0.3–0.4 and the unrelated ones at
 * about 0.06, too close in angle for sign bits to separate. Measured on
 * 10,000 MMLU agents (`npm run bench:core`): the query's own 8 buckets held
 * about 30% of all agents yet only 41% of the true top 5; with radius 1,
 * 95% of all agents.
 * The index instead learns a two-level tree of cells from the prototypes it
 * holds (k-means, seeded by the network id, retrained each time it doubles),
 * and a query scans the prototypes of its nearest leaf cells (multi-probe),
 * scoring each found prototype exactly, then re-scores the best agents over
 * all their prototypes with the same kernel and prior as `predictSuccess`.
 * Profiles that predict by density (calibrated, in a space with a corpus
 * reference: the topic space) are not filed in cells: their score is one
 * linear form of the query, and {@link DensityScores} scores every one of
 * them exactly (10,000 agents of the topic space: recall@5 1.0 in about a
 * millisecond, `npm run bench:core`); a query merges both.
 * Centroids are copied at `upsert`: upsert again after a profile changes.
 */
export class CandidateIndex {
  readonly code: BucketCode
  private readonly opts: CandidateIndexOptions
  private readonly agents = new Map<string, Entry>()
  private slots: Array<Entry | undefined> = []
  private freeSlots: number[] = []
  private freeProtoIds: number[] = []
  private nextProtoId = 0
  private liveProtos = 0
  /** Per prototype id: its centroid (flat), agent slot (-1 when free), evidence net of the prototype prior, leaf cell. */
  private centroids: Float32Array = new Float32Array(0)
  private protoAgent = new Int32Array(0)
  private protoWins = new Float64Array(0)
  private protoLosses = new Float64Array(0)
  private protoLeaf = new Int32Array(0)
  /** The tree: top centroids, leaf centroids (flat), the leaves of each top cell, and each leaf's prototype ids. */
  private top: Float32Array = new Float32Array(0)
  private leaves: Float32Array = new Float32Array(0)
  private leavesOf: number[][] = []
  /**
   * Each leaf's prototype ids, and their centroids copied contiguously in the
   * same order, quantised to int8 levels with a scale per row (re-scoring uses
   * the exact floats). The levels are held as float32: V8 multiplies those
   * about 1.5 times faster than it converts int8 (a micro-benchmark of
   * 256-dim rows), and the scan runs in sequence either way.
   */
  private leafLists: number[][] = []
  private leafRows: Float32Array[] = []
  private leafScales: Float32Array[] = []
  private protoPos = new Int32Array(0)
  private trainedAt = 0
  /** Prototypes added since the last training, filed at the next query: bulk loading trains once. */
  private pending: number[] = []
  /** Query stamps: a prototype or agent already seen by the current query carries its number. */
  private protoStamp = new Uint32Array(0)
  private agentStamp = new Uint32Array(0)
  private agentWins = new Float64Array(0)
  private agentLosses = new Float64Array(0)
  /** Per agent slot: its pre-rank score in the current query. */
  private agentScores = new Float64Array(0)
  private stamp = 0
  /** Buffers reused by every query (the index is single-threaded). */
  private scratchSims = new Float64Array(0)
  private readonly scoreScratch: Array<{ sims: Float64Array, wins: Float64Array, losses: Float64Array } | undefined> = []
  /** The profiles that predict by density, scored exactly by one dot product each (core/density-scores.ts), not filed in cells. */
  private readonly density: DensityScores

  constructor (code: BucketCode, opts: CandidateIndexOptions = {}) {
    this.code = code
    this.opts = opts
    this.density = new DensityScores(code.dim)
  }

  /** Number of agents indexed. */
  get size (): number {
    return this.agents.size
  }

  /** Number of prototypes indexed. */
  get prototypes (): number {
    return this.liveProtos
  }

  /** The indexed profile of `agentId`, if any. */
  profileOf (agentId: string): Profile | undefined {
    return this.agents.get(agentId)?.profile
  }

  /** Adds or replaces an agent's profile (profiles of another dimension are refused). */
  upsert (agentId: string, profile: Profile): void {
    if (profile.dim !== this.code.dim) throw new RangeError(`profile of ${agentId} has ${profile.dim} dims, the code ${this.code.dim}`)
    this.remove(agentId)
    if (this.density.set(agentId, profile)) {
      this.agents.set(agentId, { agentId, slot: -1, profile, protoIds: [] })
      return
    }
    const slot = this.freeSlots.pop() ?? this.slots.length
    const entry: Entry = { agentId, slot, profile, protoIds: [] }
    this.slots[slot] = entry
    if (slot >= this.agentStamp.length) this.growAgents(slot + 1)
    const a0 = this.opts.prototypePrior?.alpha ?? 1
    const b0 = this.opts.prototypePrior?.beta ?? 1
    const d = this.code.dim
    for (const p of profile.prototypes) {
      const id = this.freeProtoIds.pop() ?? this.nextProtoId++
      if (id >= this.protoAgent.length) this.growPrototypes(id + 1)
      this.centroids.set(p.centroid.subarray(0, d), id * d)
      this.protoAgent[id] = slot
      this.protoWins[id] = Math.max(0, p.alpha - a0)
      this.protoLosses[id] = Math.max(0, p.beta - b0)
      this.protoLeaf[id] = -1
      this.pending.push(id)
      entry.protoIds.push(id)
      this.liveProtos++
    }
    this.agents.set(agentId, entry)
  }

  /** Removes an agent (no-op when absent). */
  remove (agentId: string): void {
    const entry = this.agents.get(agentId)
    if (entry == null) return
    if (entry.slot < 0) {
      this.density.remove(agentId)
      this.agents.delete(agentId)
      return
    }
    for (const id of entry.protoIds) {
      const leaf = this.protoLeaf[id]
      if (leaf >= 0) this.unfile(id, leaf)
      this.protoLeaf[id] = -1
      this.protoAgent[id] = -1
      this.freeProtoIds.push(id)
      this.liveProtos--
    }
    this.slots[entry.slot] = undefined
    this.freeSlots.push(entry.slot)
    this.agents.delete(agentId)
  }

  /** Up to `limit` agent ids likely to score best on `embedding`, best first. `scanBudget` overrides the index's for this query. */
  candidates (embedding: Float32Array, limit = 10, query: { scanBudget?: number } = {}): string[] {
    return this.rankedCandidates(embedding, limit, query).map(c => c.agentId)
  }

  /**
   * Like {@link candidates}, with each agent's predicted success mean (exactly `predictSuccess(profile, embedding).mean`):
   * the best of the exact density scores and of the cells' scan, merged.
   */
  rankedCandidates (embedding: Float32Array, limit = 10, query: { scanBudget?: number } = {}): Array<{ agentId: string, score: number }> {
    const dense = this.density.size > 0 ? this.density.top(embedding, limit) : []
    if (this.agents.size === this.density.size) return dense
    const cells = this.rankedInCells(embedding, limit, query)
    if (dense.length === 0) return cells
    const out: Array<{ agentId: string, score: number }> = []
    let i = 0
    let j = 0
    while (out.length < limit && (i < dense.length || j < cells.length)) {
      out.push(j >= cells.length || (i < dense.length && ranksBefore(dense[i], cells[j])) ? dense[i++] : cells[j++])
    }
    return out
  }

  /** The best agents among those filed in the cells (the profiles that do not predict by density). */
  private rankedInCells (embedding: Float32Array, limit: number, query: { scanBudget?: number }): Array<{ agentId: string, score: number }> {
    this.catchUp()
    const stamp = this.nextStamp()
    const touched: number[] = []
    const d = this.code.dim
    if (this.trainedAt === 0) {
      const sims = this.scratch(this.nextProtoId)
      dotRows(this.centroids, d, 0, this.nextProtoId, embedding, sims)
      for (let id = 0; id < this.nextProtoId; id++) if (this.protoAgent[id] >= 0) this.visit(id, sims[id], stamp, touched)
    } else {
      const budget = query.scanBudget ?? this.opts.scanBudget ?? Math.max(2048, Math.round(0.15 * this.liveProtos))
      let scanned = 0
      const leaves = this.nearestLeaves(embedding)
      for (let leaf = leaves.next(); leaf >= 0; leaf = leaves.next()) {
        const list = this.leafLists[leaf]
        const scales = this.leafScales[leaf]
        const sims = this.scratch(list.length)
        dotRows(this.leafRows[leaf], d, 0, list.length, embedding, sims)
        for (let n = 0; n < list.length; n++) this.visit(list[n], sims[n] * scales[n], stamp, touched)
        scanned += list.length
        if (scanned >= budget) break
      }
    }
    const prior = this.opts.prior ?? DEFAULT_PRIOR
    const approx = this.agentScores
    for (const slot of touched) approx[slot] = posterior(prior, this.agentWins[slot], this.agentLosses[slot]).mean
    // The pre-rank (logistic kernel) only approximates predictSuccess's mixture: re-score generously, and every agent when the scan was exhaustive.
    const rescore = this.trainedAt === 0 ? touched.length : (this.opts.rescore ?? Math.max(128, 16 * limit))
    // The best `limit` by score, ties to the lower id, kept in order as they come: the same as sorting all and cutting.
    const keep = limit > 0 ? Math.trunc(limit) : 0
    const out: Array<{ agentId: string, score: number }> = []
    for (const slot of keep > 0 ? best(touched, approx, rescore) : []) {
      const entry = this.slots[slot]
      if (entry == null) continue
      keepRanked(out, { agentId: entry.agentId, score: this.score(entry, embedding) }, keep)
    }
    return out
  }

  /** Adds the kernel-weighted evidence of prototype `id`, at cosine `sim` from the query, to its agent. */
  private visit (id: number, sim: number, stamp: number, touched: number[]): void {
    if (this.protoStamp[id] === stamp) return
    this.protoStamp[id] = stamp
    const w = kernelWeight(sim, this.opts)
    const slot = this.protoAgent[id]
    if (this.agentStamp[slot] !== stamp) {
      this.agentStamp[slot] = stamp
      this.agentWins[slot] = 0
      this.agentLosses[slot] = 0
      touched.push(slot)
    }
    this.agentWins[slot] += w * this.protoWins[id]
    this.agentLosses[slot] += w * this.protoLosses[id]
  }

  /** The leaves under the query's nearest top-level cells, nearest first (drawn one by one: a query scans a fraction of them). */
  private nearestLeaves (embedding: Float32Array): LeafQueue {
    const d = this.code.dim
    const cells = this.top.length / d
    const topSims = new Float64Array(cells)
    dotRows(this.top, d, 0, cells, embedding, topSims)
    const tops = topK(cells, i => topSims[i], this.opts.probeCells ?? cells)
    const leafIds = tops.flatMap(t => this.leavesOf[t])
    const sims = new Float64Array(leafIds.length)
    dotGather(this.leaves, d, leafIds, leafIds.length, embedding, sims)
    return new LeafQueue(leafIds, sims)
  }

  /** `predictSuccess(profile, embedding).mean` over the flat copies of the agent's prototypes (the same mixture and prior). */
  private score (entry: Entry, embedding: Float32Array): number {
    const ids = entry.protoIds
    const k = ids.length
    // Exactly k long: the mixture reads the lengths. Reused per k: a ranking re-scores hundreds of agents.
    let s = this.scoreScratch[k]
    if (s === undefined) {
      s = { sims: new Float64Array(k), wins: new Float64Array(k), losses: new Float64Array(k) }
      this.scoreScratch[k] = s
    }
    dotGather(this.centroids, this.code.dim, ids, k, embedding, s.sims)
    const calibrated = calibratedSuccess(entry.profile, embedding, s.sims)
    if (calibrated !== undefined) return calibrated.mean
    for (let j = 0; j < k; j++) {
      s.wins[j] = this.protoWins[ids[j]]
      s.losses[j] = this.protoLosses[ids[j]]
    }
    return mixtureEstimate(s.sims, s.wins, s.losses, this.opts).mean
  }

  /** A scratch buffer of at least `n` numbers, reused across calls. */
  private scratch (n: number): Float64Array {
    if (this.scratchSims.length < n) this.scratchSims = new Float64Array(Math.max(n, 2 * this.scratchSims.length))
    return this.scratchSims
  }

  /** Trains the tree when the index has doubled since the last training, else files the prototypes added since. */
  private catchUp (): void {
    if (this.liveProtos >= (this.opts.exactBelow ?? 2048) && this.liveProtos >= 2 * this.trainedAt) {
      this.train()
    } else if (this.trainedAt > 0) {
      for (const id of this.pending) if (this.protoAgent[id] >= 0 && this.protoLeaf[id] < 0) this.assign(id)
    }
    this.pending = []
  }

  /** Learns the tree from a sample of the prototypes held, then files every prototype under its leaf. */
  private train (): void {
    const d = this.code.dim
    const live: number[] = []
    for (let id = 0; id < this.nextProtoId; id++) if (this.protoAgent[id] >= 0) live.push(id)
    const rng = seededRng(`ppai-index:${this.code.networkId}:${live.length}`)
    const sample = shuffled(live, rng).slice(0, this.opts.trainSample ?? TRAIN_SAMPLE)
    const cells = this.opts.cells ?? 16
    const leafSize = this.opts.leafSize ?? 8
    const row = (id: number): Float32Array => this.centroids.subarray(id * d, id * d + d)
    const top = kmeans(sample.map(row), cells, d)
    const members: Float32Array[][] = Array.from({ length: cells }, () => [])
    for (const id of sample) members[nearestRow(top, row(id), d)].push(row(id))
    // Leaves of equal expected size: a top cell that drew many prototypes (hubs do, in low-contrast spaces) is split further.
    const leafRows: Float32Array[] = []
    this.leavesOf = members.map((m, t) => {
      const own = m.length > 0 ? splitCell(m, leafSize, d, 0) : [top.slice(t * d, t * d + d)]
      const ids = own.map((_, j) => leafRows.length + j)
      leafRows.push(...own)
      return ids
    })
    const leaves = new Float32Array(leafRows.length * d)
    leafRows.forEach((r, i) => leaves.set(r, i * d))
    this.top = top
    this.leaves = leaves
    this.leafLists = Array.from({ length: leafRows.length }, () => [])
    this.leafRows = Array.from({ length: leafRows.length }, () => new Float32Array(0))
    this.leafScales = Array.from({ length: leafRows.length }, () => new Float32Array(0))
    for (const id of live) this.assign(id)
    this.trainedAt = live.length
  }

  /** Files prototype `id` under its nearest leaf (nearest top cell first). */
  private assign (id: number): void {
    const d = this.code.dim
    const v = this.centroids.subarray(id * d, id * d + d)
    const own = this.leavesOf[nearestRow(this.top, v, d)]
    const sims = this.scratch(own.length)
    dotGather(this.leaves, d, own, own.length, v, sims)
    let leaf = own[0]
    let best = -Infinity
    for (let j = 0; j < own.length; j++) {
      if (sims[j] > best) { best = sims[j]; leaf = own[j] }
    }
    this.protoLeaf[id] = leaf
    const list = this.leafLists[leaf]
    let rows = this.leafRows[leaf]
    let scales = this.leafScales[leaf]
    if ((list.length + 1) * d > rows.length) {
      const cap = Math.max(8, 2 * list.length + 2)
      rows = copyInto(new Float32Array(cap * d), rows)
      scales = copyInto(new Float32Array(cap), scales)
      this.leafRows[leaf] = rows
      this.leafScales[leaf] = scales
    }
    let max = 0
    for (let i = 0; i < d; i++) max = Math.max(max, Math.abs(v[i]))
    const scale = max / 127
    const base = list.length * d
    // `<< 24 >> 24`: the int8 level, as an Int8Array would store it.
    for (let i = 0; i < d; i++) rows[base + i] = scale === 0 ? 0 : (Math.round(v[i] / scale) << 24) >> 24
    scales[list.length] = scale
    this.protoPos[id] = list.length
    list.push(id)
  }

  /** Takes prototype `id` out of its leaf: the leaf's last row moves into its place. */
  private unfile (id: number, leaf: number): void {
    const d = this.code.dim
    const list = this.leafLists[leaf]
    const rows = this.leafRows[leaf]
    const at = this.protoPos[id]
    const last = list.length - 1
    if (at !== last) {
      const moved = list[last]
      list[at] = moved
      rows.copyWithin(at * d, last * d, last * d + d)
      this.leafScales[leaf][at] = this.leafScales[leaf][last]
      this.protoPos[moved] = at
    }
    list.pop()
  }

  private nextStamp (): number {
    this.stamp = (this.stamp + 1) >>> 0
    if (this.stamp === 0) {
      // Wrapped after 2^32 queries: clear so that no old stamp matches.
      this.protoStamp.fill(0)
      this.agentStamp.fill(0)
      this.stamp = 1
    }
    return this.stamp
  }

  private growPrototypes (atLeast: number): void {
    const n = Math.max(atLeast, 2 * this.protoAgent.length, 256)
    const centroids = new Float32Array(n * this.code.dim)
    centroids.set(this.centroids)
    this.centroids = centroids
    this.protoAgent = copyInto(new Int32Array(n), this.protoAgent)
    this.protoWins = copyInto(new Float64Array(n), this.protoWins)
    this.protoLosses = copyInto(new Float64Array(n), this.protoLosses)
    this.protoLeaf = copyInto(new Int32Array(n), this.protoLeaf)
    this.protoPos = copyInto(new Int32Array(n), this.protoPos)
    this.protoStamp = copyInto(new Uint32Array(n), this.protoStamp)
  }

  private growAgents (atLeast: number): void {
    const n = Math.max(atLeast, 2 * this.agentStamp.length, 64)
    this.agentStamp = copyInto(new Uint32Array(n), this.agentStamp)
    this.agentWins = copyInto(new Float64Array(n), this.agentWins)
    this.agentLosses = copyInto(new Float64Array(n), this.agentLosses)
    this.agentScores = copyInto(new Float64Array(n), this.agentScores)
  }
}

function copyInto<T extends Float64Array | Float32Array | Int32Array | Uint32Array | Int8Array> (into: T, from: T): T {
  into.set(from)
  return into
}
