/**
 * Counters of rejected inputs by named reason: what the status page reads to
 * see what a node (and its HTTP API) threw away, and why.
 */

/**
 * Counts per reason. The reasons given to the constructor start at zero, so a
 * snapshot lists them all (the node's counters); without them a snapshot
 * lists only the reasons counted so far (the HTTP API's, in `/api/status`).
 */
export class RejectionCounter<R extends string> {
  private readonly counts = new Map<R, number>()

  constructor (reasons: readonly R[] = []) {
    for (const r of reasons) this.counts.set(r, 0)
  }

  count (reason: R): void {
    this.counts.set(reason, (this.counts.get(reason) ?? 0) + 1)
  }

  get (reason: R): number {
    return this.counts.get(reason) ?? 0
  }

  total (): number {
    let n = 0
    for (const v of this.counts.values()) n += v
    return n
  }

  snapshot (): Record<R, number> {
    return Object.fromEntries(this.counts) as Record<R, number>
  }
}
