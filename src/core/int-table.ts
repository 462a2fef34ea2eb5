/**
 * A hash table from small non-negative integers to integers, open addressing
 * with linear probing, in one plain array of (key, value) pairs: for the
 * beliefs of 10,000 simulated nodes, whose maps of strings were most of the
 * cost of finding a record (ARCHITECTURE.md §7).
 */

/** What {@link IntTable.get} returns for a key not in the table. */
export const ABSENT = -1

/** Fibonacci hashing: the top bits of key × 2^32/φ. */
const GOLDEN = 0x9E3779B1

export class IntTable {
  /** (key, value) pairs, key -1 when the place is empty; the capacity a power of two. */
  private table: number[] = []
  private mask = 0
  private shift = 32
  private entries = 0

  constructor (capacity = 16) {
    this.resize(capacity)
  }

  /** Keys held. */
  get size (): number {
    return this.entries
  }

  /** The value of `key`, {@link ABSENT} when it is not held. */
  get (key: number): number {
    const table = this.table
    const mask = this.mask
    for (let h = Math.imul(key, GOLDEN) >>> this.shift; ; h = (h + 1) & mask) {
      const k = table[2 * h]
      if (k === key) return table[2 * h + 1]
      if (k === -1) return ABSENT
    }
  }

  /** Adds `key` (not held yet) with `value`. */
  add (key: number, value: number): void {
    this.entries++
    // At most half full, so that a probe ends soon.
    if (2 * this.entries > this.mask + 1) this.resize(2 * (this.mask + 1))
    this.place(key, value)
  }

  /** Removes `key` (held). */
  delete (key: number): void {
    this.entries--
    const table = this.table
    const mask = this.mask
    let i = Math.imul(key, GOLDEN) >>> this.shift
    while (table[2 * i] !== key) i = (i + 1) & mask
    // Backward-shift deletion: later entries of the probe run move up, so that no probe stops early at the hole.
    for (let j = (i + 1) & mask; table[2 * j] !== -1; j = (j + 1) & mask) {
      const home = Math.imul(table[2 * j], GOLDEN) >>> this.shift
      // The entry at j may fill the hole at i unless its home lies cyclically in (i, j].
      const stays = i <= j ? (home > i && home <= j) : (home > i || home <= j)
      if (stays) continue
      table[2 * i] = table[2 * j]
      table[2 * i + 1] = table[2 * j + 1]
      i = j
    }
    table[2 * i] = -1
  }

  /** Puts (key, value) in the first free place of its probe run. */
  private place (key: number, value: number): void {
    const table = this.table
    const mask = this.mask
    let h = Math.imul(key, GOLDEN) >>> this.shift
    while (table[2 * h] !== -1) h = (h + 1) & mask
    table[2 * h] = key
    table[2 * h + 1] = value
  }

  /** A table of `capacity` (a power of two) places holding the current entries. */
  private resize (capacity: number): void {
    const old = this.table
    this.table = new Array<number>(2 * capacity).fill(-1)
    this.mask = capacity - 1
    this.shift = 32 - Math.log2(capacity)
    for (let i = 0; i < old.length; i += 2) if (old[i] !== -1) this.place(old[i], old[i + 1])
  }
}
