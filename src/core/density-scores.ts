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
import { densityForm } from './expertise.js'
import { ranksBefore } from './index-cells.js'
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
    const out: Array<{ agentId: string, score: number }> = []
    if (keep === 0 || embedding.length !== this.dim) return out
    const d = this.dim
    const rows = this.rows
    // Ranked by the logit z; its logistic is the score.
    const z: Array<{ agentId: string, score: number }> = []
    for (let slot = 0; slot < this.ids.length; slot++) {
      const agentId = this.ids[slot]
      if (agentId === '') continue
      let s = this.consts[slot]
      const base = slot * d
      for (let i = 0; i < d; i++) s += rows[base + i] * embedding[i]
      if (z.length === keep && !(s > z[keep - 1].score || (s === z[keep - 1].score && agentId < z[keep - 1].agentId))) continue
      const c = { agentId, score: s }
      let at = z.length < keep ? z.length : keep - 1
      if (z.length < keep) z.push(c)
      while (at > 0 && ranksBefore(c, z[at - 1])) { z[at] = z[at - 1]; at-- }
      z[at] = c
    }
    for (const c of z) out.push({ agentId: c.agentId, score: 1 / (1 + Math.exp(-c.score)) })
    return out
  }
}
