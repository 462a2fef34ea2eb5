/**
 * An arrival-rate meter as a node keeps one: an exponentially decayed count
 * of events, read as events per second. What beacons and admission carry is
 * this measured rate, never the true one.
 */
export class RateMeter {
  private value = 0
  private at = 0

  /** @param tauMs - the memory of the meter, ms */
  constructor (private readonly tauMs: number) {}

  /** One event at `now`. */
  add (now: number): void {
    this.value = this.decayed(now) + 1
    this.at = now
  }

  /** Events per second around `now`. */
  ratePerSec (now: number): number {
    return this.decayed(now) / this.tauMs * 1000
  }

  private decayed (now: number): number {
    return now > this.at ? this.value * Math.exp(-(now - this.at) / this.tauMs) : this.value
  }
}
