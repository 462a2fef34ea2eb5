/**
 * The simulator's agenda: a binary min-heap of events ordered by virtual time,
 * ties broken by insertion order so that a run is deterministic.
 *
 * Times and sequence numbers live in typed arrays beside the events: a run of
 * a million queries pushes millions of events, and a wrapper object per event
 * would be garbage to collect.
 */

/** A pending event: when it fires and what it carries. */
export interface Scheduled<T> {
  time: number
  seq: number
  event: T
}

export class EventQueue<T> {
  private times = new Float64Array(1024)
  private seqs = new Float64Array(1024)
  private events: Array<T | undefined> = []
  private n = 0
  private nextSeq = 0
  /** Time of the event the last {@link popEvent} returned, ms. */
  poppedTime = 0
  /** Sequence number (insertion order) of that event. */
  poppedSeq = 0

  /** Number of pending events. */
  get size (): number {
    return this.n
  }

  /** Schedules `event` at virtual time `time` (ms). */
  push (time: number, event: T): void {
    if (this.n === this.times.length) this.grow()
    const seq = this.nextSeq++
    const times = this.times
    const seqs = this.seqs
    const events = this.events
    let i = this.n++
    while (i > 0) {
      const parent = (i - 1) >> 1
      const pt = times[parent]
      if (!(time < pt || (time === pt && seq < seqs[parent]))) break
      times[i] = pt
      seqs[i] = seqs[parent]
      events[i] = events[parent]
      i = parent
    }
    times[i] = time
    seqs[i] = seq
    events[i] = event
  }

  /** Removes and returns the earliest event (its time in {@link poppedTime}), or undefined when none is left. */
  popEvent (): T | undefined {
    if (this.n === 0) return undefined
    const times = this.times
    const seqs = this.seqs
    const events = this.events
    const top = events[0]
    this.poppedTime = times[0]
    this.poppedSeq = seqs[0]
    const n = --this.n
    const lastTime = times[n]
    const lastSeq = seqs[n]
    const last = events[n]
    events[n] = undefined
    if (n > 0) {
      let i = 0
      while (true) {
        const l = 2 * i + 1
        if (l >= n) break
        const r = l + 1
        const c = r < n && (times[r] < times[l] || (times[r] === times[l] && seqs[r] < seqs[l])) ? r : l
        if (!(times[c] < lastTime || (times[c] === lastTime && seqs[c] < lastSeq))) break
        times[i] = times[c]
        seqs[i] = seqs[c]
        events[i] = events[c]
        i = c
      }
      times[i] = lastTime
      seqs[i] = lastSeq
      events[i] = last
    }
    return top
  }

  /** Removes and returns the earliest event with its time, or undefined when none is left. */
  pop (): Scheduled<T> | undefined {
    if (this.n === 0) return undefined
    const event = this.popEvent() as T
    return { time: this.poppedTime, seq: this.poppedSeq, event }
  }

  /** Time of the earliest event, or Infinity. */
  peekTime (): number {
    return this.n > 0 ? this.times[0] : Infinity
  }

  private grow (): void {
    const times = new Float64Array(this.times.length * 2)
    times.set(this.times)
    this.times = times
    const seqs = new Float64Array(this.seqs.length * 2)
    seqs.set(this.seqs)
    this.seqs = seqs
  }
}
