/**
 * A binary min-heap of (time, slot, stamp) entries in three parallel arrays,
 * ordered by time: the beliefs' queue of when each counted beacon goes stale.
 * An entry is only a note; its owner decides by the stamp whether it is still
 * current.
 */
export class ExpiryHeap {
  private readonly at: number[] = []
  private readonly slot: number[] = []
  private readonly stamp: number[] = []
  private entries = 0

  /** Entries held. */
  get size (): number {
    return this.entries
  }

  /** The earliest time held (the heap is not empty). */
  topAt (): number {
    return this.at[0]
  }

  /** The slot of the earliest entry (the heap is not empty). */
  topSlot (): number {
    return this.slot[0]
  }

  /** The stamp of the earliest entry (the heap is not empty). */
  topStamp (): number {
    return this.stamp[0]
  }

  /** Drops every entry, keeping the arrays. */
  clear (): void {
    this.entries = 0
  }

  /** Adds an entry. */
  push (at: number, slot: number, stamp: number): void {
    if (this.entries === this.at.length) {
      this.at.push(at)
      this.slot.push(slot)
      this.stamp.push(stamp)
    }
    const heapAt = this.at
    const heapSlot = this.slot
    const heapStamp = this.stamp
    let i = this.entries++
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!(at < heapAt[parent])) break
      heapAt[i] = heapAt[parent]
      heapSlot[i] = heapSlot[parent]
      heapStamp[i] = heapStamp[parent]
      i = parent
    }
    heapAt[i] = at
    heapSlot[i] = slot
    heapStamp[i] = stamp
  }

  /** Removes the earliest entry (the heap is not empty). */
  pop (): void {
    const heapAt = this.at
    const heapSlot = this.slot
    const heapStamp = this.stamp
    const n = --this.entries
    if (n === 0) return
    const lastAt = heapAt[n]
    const lastSlot = heapSlot[n]
    const lastStamp = heapStamp[n]
    let i = 0
    while (true) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      const c = r < n && heapAt[r] < heapAt[l] ? r : l
      if (!(heapAt[c] < lastAt)) break
      heapAt[i] = heapAt[c]
      heapSlot[i] = heapSlot[c]
      heapStamp[i] = heapStamp[c]
      i = c
    }
    heapAt[i] = lastAt
    heapSlot[i] = lastSlot
    heapStamp[i] = lastStamp
  }
}
