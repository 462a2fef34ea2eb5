/**
 * An arrival-rate meter as a node keeps one: an exponentially decayed count
 * of events, read as events per second. What beacons and admission carry is
 * this measured rate, never the true one.
 */
export class RateMeter {
  private count = 0
  private at = 0

  /** @param tauMs - the memory of the meter, ms */
  constructor (private readonly tauMs: number) {}

  /** One event at `now`. */
  add (now: number): void {
    this.count = decayedCount(this.count, this.at, now, this.tauMs) + 1
    this.at = now
  }

  /** Events per second around `now`. */
  ratePerSec (now: number): number {
    return rateFrom(this.count, this.at, now, this.tauMs)
  }

  /** The meter's state, so that its rate at `now` can be read later with {@link rateFrom} (a beacon nobody may hear). */
  get decayedCountValue (): number {
    return this.count
  }

  /** When the state was last updated, ms. */
  get updatedAt (): number {
    return this.at
  }
}

/** The rate a meter of memory `tauMs` with `count` at `at` reads at `now`, per second (as {@link RateMeter.ratePerSec}). */
export function rateFrom (count: number, at: number, now: number, tauMs: number): number {
  return decayedCount(count, at, now, tauMs) / tauMs * 1000
}

function decayedCount (count: number, at: number, now: number, tauMs: number): number {
  return now > at ? count * Math.exp(-(now - at) / tauMs) : count
}
