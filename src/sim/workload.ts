/**
 * Who asks what, and when: per user, query arrivals as a Poisson process with
 * bursts (a two-state Markov-modulated Poisson process), and a question mix
 * skewed toward the user's own interests.
 */
import { exponential } from '../core/rng.js'
import type { Rng } from '../core/types.js'
import type { Question } from '../data/questions.js'

/** Parameters of one user's arrival process. */
export interface ArrivalParams {
  /** Long-run mean arrival rate, queries per second. */
  meanRatePerSec: number
  /** Rate during a burst, as a multiple of the calm rate (1 = plain Poisson). */
  burstFactor: number
  /** Long-run fraction of time spent in bursts, in [0, 1). */
  burstFraction: number
  /** Mean length of a burst, ms. */
  meanBurstMs: number
}

/**
 * Arrivals of one user: calm and burst periods of exponential length, Poisson
 * within each, with the calm rate chosen so that the long-run mean is
 * `meanRatePerSec` exactly.
 */
export class BurstyArrivals {
  private bursting: boolean
  private stateEndsAt: number
  private readonly calmRatePerMs: number
  private readonly burstRatePerMs: number
  private readonly meanCalmMs: number

  constructor (private readonly params: ArrivalParams, private readonly rng: Rng, start = 0) {
    const f = params.burstFraction
    const calm = params.meanRatePerSec / (1 - f + f * params.burstFactor)
    this.calmRatePerMs = calm / 1000
    this.burstRatePerMs = calm * params.burstFactor / 1000
    this.meanCalmMs = f > 0 ? params.meanBurstMs * (1 - f) / f : Infinity
    this.bursting = f > 0 && rng() < f
    this.stateEndsAt = start + this.drawStateLength()
  }

  private drawStateLength (): number {
    if (this.params.burstFraction <= 0) return Infinity
    return exponential(this.rng, this.bursting ? this.params.meanBurstMs : this.meanCalmMs)
  }

  /** The next arrival strictly after `now`, ms. */
  next (now: number): number {
    let t = now
    // Memoryless: when a draw runs past the end of a period, restart from there with the other rate.
    for (let guard = 0; guard < 10_000; guard++) {
      const rate = this.bursting ? this.burstRatePerMs : this.calmRatePerMs
      const gap = rate > 0 ? exponential(this.rng, 1 / rate) : Infinity
      if (t + gap <= this.stateEndsAt) return t + gap
      t = this.stateEndsAt
      this.bursting = !this.bursting
      this.stateEndsAt = t + this.drawStateLength()
    }
    return Infinity
  }
}

/** Questions grouped for fast drawing: all of them, and per subject. */
export class QuestionPool {
  readonly all: readonly Question[]
  private readonly bySubject = new Map<string, Question[]>()

  constructor (questions: readonly Question[]) {
    if (questions.length === 0) throw new RangeError('empty question pool')
    this.all = questions
    for (const q of questions) {
      const list = this.bySubject.get(q.subject)
      if (list === undefined) this.bySubject.set(q.subject, [q])
      else list.push(q)
    }
  }

  /** Subjects present, sorted. */
  subjects (): string[] {
    return [...this.bySubject.keys()].sort()
  }

  /**
   * One question for a user: with probability `ownInterestShare` from one of
   * the user's interest subjects (uniformly), otherwise from the whole pool.
   */
  draw (interests: readonly string[], ownInterestShare: number, rng: Rng): Question {
    if (interests.length > 0 && rng() < ownInterestShare) {
      const list = this.bySubject.get(interests[Math.floor(rng() * interests.length)])
      if (list !== undefined && list.length > 0) return list[Math.floor(rng() * list.length)]
    }
    return this.all[Math.floor(rng() * this.all.length)]
  }
}
