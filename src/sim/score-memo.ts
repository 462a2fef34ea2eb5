/**
 * A memo of `predictSuccess` over advertised profiles, shared by every
 * simulated node of one run: the same profile (a persona's, fixed for the run)
 * is scored on the same question thousands of times (not so an own agent's:
 * its own questions are mostly new to it, so it is scored afresh). The value is the core's
 * own function of (profile, query embedding, options), computed once; an
 * entry is dropped when the profile's version moves on.
 *
 * A query embedding gets a small integer the first time it is seen (the run
 * embeds each question once), and a profile's scores are an array by that
 * number: the scale run asks for about a million scores of 1,000 profiles on
 * 3,728 questions, and one map entry per (profile, question) was a hash lookup
 * into a cold table per candidate and millions of entries for the collector.
 * The candidates of one decision share their query, so its number is looked
 * up once per decision. Plain Maps, not WeakMaps: a memo lives for one run,
 * over profiles and embeddings the run's world holds anyway, and WeakMaps make
 * every full garbage collection trace their entries as ephemerons.
 */
import { predictSuccess, type ScoringOptions } from '../core/scoring.js'
import type { Profile, SuccessEstimate } from '../core/types.js'

interface ProfileEntry {
  version: number
  /** By query number; undefined where not yet computed. */
  byQuery: Array<SuccessEstimate | undefined>
}

export class ScoreMemo {
  private readonly byProfile = new Map<Profile, ProfileEntry>()
  private readonly queryNumbers = new Map<Float32Array, number>()
  private lastQuery: Float32Array | undefined
  private lastNumber = -1
  private hits = 0
  private misses = 0

  /** Options the memo was made for; a call with other options is computed, not memoised. */
  constructor (private readonly opts?: ScoringOptions) {}

  /** `predictSuccess(profile, embedding, opts)`, memoised per (profile, version, embedding). */
  readonly predict = (profile: Profile, embedding: Float32Array, opts?: ScoringOptions): SuccessEstimate => {
    if (opts !== this.opts) return predictSuccess(profile, embedding, opts)
    let entry = this.byProfile.get(profile)
    if (entry === undefined || entry.version !== profile.version) {
      entry = { version: profile.version, byQuery: [] }
      this.byProfile.set(profile, entry)
    }
    const n = this.numberOf(embedding)
    const row = entry.byQuery
    // Grown with explicit holes' values so that the array stays packed (a sparse write would turn it into a dictionary).
    while (row.length <= n) row.push(undefined)
    let estimate = row[n]
    if (estimate === undefined) {
      this.misses++
      estimate = predictSuccess(profile, embedding, opts)
      row[n] = estimate
    } else {
      this.hits++
    }
    return estimate
  }

  private numberOf (embedding: Float32Array): number {
    if (embedding === this.lastQuery) return this.lastNumber
    let n = this.queryNumbers.get(embedding)
    if (n === undefined) {
      n = this.queryNumbers.size
      this.queryNumbers.set(embedding, n)
    }
    this.lastQuery = embedding
    this.lastNumber = n
    return n
  }

  /** Lookups answered from the memo and computed. */
  get stats (): { hits: number, misses: number } {
    return { hits: this.hits, misses: this.misses }
  }
}
