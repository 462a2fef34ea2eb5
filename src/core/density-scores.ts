/**
 * Exact retrieval among the profiles that predict by density (a calibrated
 * profile in a space with a corpus reference, `core/expertise.ts`): each is
 * one row `w` and a constant `c` ({@link densityForm}), and its predicted
 * success on a query q is σ(w·q + c). A query scores every such agent with
 * one dot product of the space's dimension (57 in the topic space) and keeps
 * the best: no approximation, so nothing for a re-scoring to recover. The
 * candidate index (`core/retrieval.ts`) holds these profiles here and the
 * others in its cells.
 */
import { densityForm, sigmoid } from './expertise.js'
import { keepRanked } from './index-cells.js'
import type { Profile } from './types.js'

export class DensityScores {
  private readonly dim: number
  /** Row `slot` of `rows` (dim numbers) and `consts[slot]` are the form of `ids[slot]`; a free slot's id is ''. */
  private rows = new Float64Array(0)
  private consts = new Float64Array(0)
  private ids: string[] = []
  private readonly slots = new Map<string, number>()
  private readonly free: number[] = []

  constructor (dim: number) {
    this.dim = dim
  }

  /** Number of agents held. */
  get size (): number {
    return this.slots.size
  }

  /** Holds `profile` for `agentId` when it predicts by density (true); otherwise leaves the agent out (false). */
  set (agentId: string, profile: Profile): boolean {
    this.remove(agentId)
    const form = profile.dim === this.dim ? densityForm(profile) : undefined
    if (form === undefined) return false
    const slot = this.free.pop() ?? this.ids.length
    if ((slot + 1) * this.dim > this.rows.length) {
      const cap = Math.max(64, 2 * (slot + 1))
      const rows = new Float64Array(cap * this.dim)
      rows.set(this.rows)
      const consts = new Float64Array(cap)
      consts.set(this.consts)
      this.rows = rows
      this.consts = consts
    }
    this.rows.set(form.w, slot * this.dim)
    this.consts[slot] = form.c
    this.ids[slot] = agentId
    this.slots.set(agentId, slot)
    return true
  }

  /** Forgets `agentId` (no-op when absent). */
  remove (agentId: string): void {
    const slot = this.slots.get(agentId)
    if (slot === undefined) return
    this.slots.delete(agentId)
    this.ids[slot] = ''
    this.free.push(slot)
  }

  /** The best `limit` agents on `embedding`, best first (ties to the lower id), with their predicted success. */
  top (embedding: Float32Array, limit: number): Array<{ agentId: string, score: number }> {
    const keep = Math.max(0, Math.trunc(limit))
    // Ranked by the logit z (the last kept's is the bar a row must pass); its logistic is the score.
    const out: Array<{ agentId: string, score: number }> = []
    if (keep === 0 || embedding.length !== this.dim) return out
    const d = this.dim
    const rows = this.rows
    for (let slot = 0; slot < this.ids.length; slot++) {
      const agentId = this.ids[slot]
      if (agentId === '') continue
      let z = this.consts[slot]
      const base = slot * d
      for (let i = 0; i < d; i++) z += rows[base + i] * embedding[i]
      if (out.length === keep && z < out[keep - 1].score) continue
      keepRanked(out, { agentId, score: z }, keep)
    }
    for (const c of out) c.score = sigmoid(c.score)
    return out
  }
}
