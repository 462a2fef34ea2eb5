/**
 * A memo of `predictSuccess` over advertised profiles, shared by every
 * simulated node of one run: the same profile (a persona's, fixed for the run)
 * is scored on the same question thousands of times (not so an own agent's:
 * its own questions are mostly new to it, so it is scored afresh). The value is the core's
 * own function of (profile, query embedding, options), computed once; an
 * entry is dropped when the profile's version moves on.
 *
 * Plain Maps, not WeakMaps: a memo lives for one run, over profiles and
 * embeddings the run's world holds anyway, and a million entries in WeakMaps
 * made every full garbage collection trace them as ephemerons (seconds per
 * collection at 10,000 agents; most of the scale run's GC time).
 */
import { predictSuccess, type ScoringOptions } from '../core/scoring.js'
import type { Profile, SuccessEstimate } from '../core/types.js'

interface ProfileEntry {
  version: number
  byQuery: Map<Float32Array, SuccessEstimate>
}

export class ScoreMemo {
  private readonly byProfile = new Map<Profile, ProfileEntry>()
  private hits = 0
  private misses = 0

  /** Options the memo was made for; a call with other options is computed, not memoised. */
  constructor (private readonly opts?: ScoringOptions) {}

  /** `predictSuccess(profile, embedding, opts)`, memoised per (profile, version, embedding). */
  readonly predict = (profile: Profile, embedding: Float32Array, opts?: ScoringOptions): SuccessEstimate => {
    if (opts !== this.opts) return predictSuccess(profile, embedding, opts)
    let entry = this.byProfile.get(profile)
    if (entry === undefined || entry.version !== profile.version) {
      entry = { version: profile.version, byQuery: new Map() }
      this.byProfile.set(profile, entry)
    }
    let estimate = entry.byQuery.get(embedding)
    if (estimate === undefined) {
      this.misses++
      estimate = predictSuccess(profile, embedding, opts)
      entry.byQuery.set(embedding, estimate)
    } else {
      this.hits++
    }
    return estimate
  }

  /** Lookups answered from the memo and computed. */
  get stats (): { hits: number, misses: number } {
    return { hits: this.hits, misses: this.misses }
  }
}
