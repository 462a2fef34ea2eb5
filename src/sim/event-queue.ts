/**
 * The simulator's agenda: a binary min-heap of events ordered by virtual time,
 * ties broken by insertion order so that a run is deterministic.
 */

/** A pending event: when it fires and what it carries. */
export interface Scheduled<T> {
  time: number
  seq: number
  event: T
}

export class EventQueue<T> {
  private readonly heap: Array<Scheduled<T>> = []
  private nextSeq = 0

  /** Number of pending events. */
  get size (): number {
    return this.heap.length
  }

  /** Schedules `event` at virtual time `time` (ms). */
  push (time: number, event: T): void {
    const item = { time, seq: this.nextSeq++, event }
    const heap = this.heap
    let i = heap.length
    heap.push(item)
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!before(item, heap[parent])) break
      heap[i] = heap[parent]
      i = parent
    }
    heap[i] = item
  }

  /** Removes and returns the earliest event, or undefined when none is left. */
  pop (): Scheduled<T> | undefined {
    const heap = this.heap
    if (heap.length === 0) return undefined
    const top = heap[0]
    const last = heap.pop() as Scheduled<T>
    if (heap.length > 0) {
      let i = 0
      const n = heap.length
      while (true) {
        const l = 2 * i + 1
        if (l >= n) break
        const r = l + 1
        const c = r < n && before(heap[r], heap[l]) ? r : l
        if (!before(heap[c], last)) break
        heap[i] = heap[c]
        i = c
      }
      heap[i] = last
    }
    return top
  }

  /** Time of the earliest event, or Infinity. */
  peekTime (): number {
    return this.heap.length > 0 ? this.heap[0].time : Infinity
  }
}

function before<T> (a: Scheduled<T>, b: Scheduled<T>): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq)
}
