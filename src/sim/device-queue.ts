/**
 * The serving side of one simulated device: one request in service at a time
 * and owner-first order (ARCHITECTURE.md §5) — the owner's queries wait only behind
 * other owner queries and the request in service; remote queries are served
 * first-come first-served after them.
 */

/** A request waiting at or being served by a device. */
export interface QueuedJob<Q> {
  query: Q
  /** True when it came from another peer. */
  remote: boolean
  /** The query's attempt token when it was sent; a job whose query moved on is skipped. */
  token: number
  /** Service time this job will take on this device, ms. */
  serviceMs: number
}

/**
 * A FIFO with O(1) push and shift (head index, compacted now and then). A
 * slot is cleared when its item is taken and the array emptied when nothing
 * waits: a device serves a few hundred jobs in a run, fewer than a
 * compaction needs, and the served jobs (with their queries) stayed
 * reachable to the end of the run (a third of the live heap at 10,000 agents).
 */
class Fifo<T> {
  private items: Array<T | undefined> = []
  private head = 0

  get length (): number {
    return this.items.length - this.head
  }

  push (item: T): void {
    this.items.push(item)
  }

  shift (): T | undefined {
    if (this.head >= this.items.length) return undefined
    const item = this.items[this.head]
    this.items[this.head++] = undefined
    if (this.head === this.items.length) {
      this.items.length = 0
      this.head = 0
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    return item
  }

  /** Removes and returns every item. */
  drain (): T[] {
    // Every slot from the head on holds a waiting item.
    const out = this.items.slice(this.head) as T[]
    this.items = []
    this.head = 0
    return out
  }
}

export class DeviceQueue<Q> {
  private readonly owner = new Fifo<QueuedJob<Q>>()
  private readonly remote = new Fifo<QueuedJob<Q>>()
  /** Jobs waiting in either queue: the backlog is read at every beacon of 10,000 devices, without walking to the queues. */
  private waiting = 0
  /** The job in service, if any. */
  current: QueuedJob<Q> | undefined
  /** When the current job started, ms. */
  startedAt = 0
  /** Increases at every service start, so a stale end-of-service event can be recognised. */
  serviceToken = 0

  /** Requests waiting or in service. */
  get backlog (): number {
    return this.waiting + (this.current !== undefined ? 1 : 0)
  }

  /** Remote requests waiting or in service. */
  get remoteQueued (): number {
    return this.remote.length + (this.current?.remote === true ? 1 : 0)
  }

  enqueue (job: QueuedJob<Q>): void {
    if (job.remote) this.remote.push(job)
    else this.owner.push(job)
    this.waiting++
  }

  /** The next job to serve: the owner's first. */
  next (): QueuedJob<Q> | undefined {
    const job = this.owner.shift() ?? this.remote.shift()
    if (job !== undefined) this.waiting--
    return job
  }

  /** Takes every waiting remote job out of the queue (the device left the network). */
  dropRemote (): Array<QueuedJob<Q>> {
    const dropped = this.remote.drain()
    this.waiting -= dropped.length
    return dropped
  }
}
