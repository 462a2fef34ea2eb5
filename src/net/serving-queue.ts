/**
 * The serving side's queue: one agent, concurrency 1 by default (an edge
 * device runs one LLM request at a time), owner's queries first. It measures
 * what the beacons report — backlog, mean service time, arrival rate.
 *
 * Queue discipline (core/admission, shared with the simulator): an owner
 * query is placed after the owner queries already waiting and before every
 * waiting remote query; remote queries are served in arrival order. A task
 * already in service is never pre-empted.
 */
import { ownerFirstInsertIndex } from '../core/admission.js'
import { NamedError } from '../core/errors.js'

export type Origin = 'owner' | 'remote'

/** A remote task in service was stopped so that an owner query could run (owner first, ARCHITECTURE.md §5). */
export class QueuePreemptedError extends NamedError {
  readonly code = 'ERR_QUEUE_PREEMPTED'
}

/** A queued task was cancelled (its signal aborted) before or while it ran. */
export class QueueAbortedError extends NamedError {
  readonly code = 'ERR_QUEUE_ABORTED'
}

export interface ServingQueueOptions {
  /** Tasks in service at once (default 1). */
  concurrency?: number
  /** Service time assumed before anything was measured, ms (default 1000). */
  initialServiceMs?: number
  /** Weight of the newest service time in the moving average (default 0.2). */
  smoothing?: number
  /** Window over which arrival rates are measured, ms (default 30 s). */
  rateWindowMs?: number
  clock?: () => number
  /**
   * An owner query that would wait for a remote one in service stops it (the
   * remote asker gets a refusal and falls back), so the owner never waits for
   * borrowed work (default true).
   */
  preemptRemote?: boolean
}

export interface Served<T> {
  value: T
  queuedMs: number
  workMs: number
}

interface Entry {
  origin: Origin
  enqueuedAt: number
  start: () => void
  cancel: (err: Error) => void
}

/** Owner-first FIFO queue with measured service time and arrival rates. */
export class ServingQueue {
  private readonly waiting: Entry[] = []
  private running = 0
  private runningRemote = 0
  private readonly concurrency: number
  private readonly smoothing: number
  private readonly rateWindowMs: number
  private readonly clock: () => number
  private meanServiceMs: number
  private readonly arrivals: Record<Origin, number[]> = { owner: [], remote: [] }
  private readonly preemptRemote: boolean
  /** Remote tasks waiting or in service, per asking peer (admission gives each peer only its share). */
  private readonly remoteByPeer = new Map<string, number>()
  /** Remote tasks in service, for preemption. */
  private readonly remoteInService = new Set<{ controller: AbortController, preempted: boolean }>()

  constructor (opts: ServingQueueOptions = {}) {
    this.concurrency = Math.max(1, opts.concurrency ?? 1)
    this.meanServiceMs = opts.initialServiceMs ?? 1000
    this.smoothing = opts.smoothing ?? 0.2
    this.rateWindowMs = opts.rateWindowMs ?? 30_000
    this.clock = opts.clock ?? Date.now
    this.preemptRemote = opts.preemptRemote ?? true
  }

  /** Tasks waiting or in service. */
  get backlog (): number {
    return this.waiting.length + this.running
  }

  /** Remote tasks waiting or in service. */
  get remoteQueued (): number {
    return this.waiting.filter(e => e.origin === 'remote').length + this.runningRemote
  }

  /** Remote tasks of `peer` waiting or in service. */
  remoteQueuedBy (peer: string): number {
    return this.remoteByPeer.get(peer) ?? 0
  }

  /** Moving average of the service time, ms. */
  get serviceMs (): number {
    return this.meanServiceMs
  }

  /** Arrivals per second over the rate window, of one origin or both. */
  arrivalPerSec (origin?: Origin): number {
    const now = this.clock()
    const count = (o: Origin): number => {
      const list = this.arrivals[o]
      while (list.length > 0 && list[0] < now - this.rateWindowMs) list.shift()
      return list.length
    }
    const n = origin == null ? count('owner') + count('remote') : count(origin)
    return n / (this.rateWindowMs / 1000)
  }

  /**
   * Runs `task` when its turn comes. The task gets a signal that aborts when
   * `signal` does; a task cancelled while waiting never runs. A remote task
   * names the `peer` that asked, for {@link remoteQueuedBy}.
   */
  async submit<T> (origin: Origin, task: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal, peer?: string): Promise<Served<T>> {
    const counted = origin === 'remote' && peer !== undefined ? peer : undefined
    if (counted !== undefined) this.remoteByPeer.set(counted, this.remoteQueuedBy(counted) + 1)
    try {
      return await this.run(origin, task, signal)
    } finally {
      if (counted !== undefined) {
        const left = this.remoteQueuedBy(counted) - 1
        if (left > 0) this.remoteByPeer.set(counted, left)
        else this.remoteByPeer.delete(counted)
      }
    }
  }

  private async run<T> (origin: Origin, task: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<Served<T>> {
    const enqueuedAt = this.clock()
    this.noteArrival(origin, enqueuedAt)
    if (signal?.aborted === true) throw new QueueAbortedError('cancelled before it was queued')
    await new Promise<void>((resolve, reject) => {
      const entry: Entry = { origin, enqueuedAt, start: resolve, cancel: reject }
      const onAbort = (): void => {
        const i = this.waiting.indexOf(entry)
        if (i >= 0) {
          this.waiting.splice(i, 1)
          reject(new QueueAbortedError('cancelled while waiting'))
        }
      }
      entry.start = () => {
        signal?.removeEventListener('abort', onAbort)
        resolve()
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.enqueue(entry)
      this.pump()
      if (origin === 'owner' && this.waiting.includes(entry)) this.preemptOne()
    })
    const startedAt = this.clock()
    const controller = new AbortController()
    const forward = (): void => controller.abort(new QueueAbortedError('cancelled while in service'))
    signal?.addEventListener('abort', forward, { once: true })
    const handle = { controller, preempted: false }
    if (origin === 'remote') this.remoteInService.add(handle)
    try {
      let value: T
      try {
        value = await task(controller.signal)
      } catch (err) {
        if (handle.preempted) throw new QueuePreemptedError('stopped for an owner query')
        throw err
      }
      const workMs = this.clock() - startedAt
      this.meanServiceMs += this.smoothing * (workMs - this.meanServiceMs)
      return { value, queuedMs: startedAt - enqueuedAt, workMs }
    } finally {
      this.remoteInService.delete(handle)
      signal?.removeEventListener('abort', forward)
      this.running--
      if (origin === 'remote') this.runningRemote--
      this.pump()
    }
  }

  /** Stops one remote task in service (if any) for a waiting owner query. */
  private preemptOne (): void {
    if (!this.preemptRemote) return
    for (const h of this.remoteInService) {
      if (h.preempted) continue
      h.preempted = true
      h.controller.abort(new QueuePreemptedError('stopped for an owner query'))
      return
    }
  }

  private enqueue (entry: Entry): void {
    this.waiting.splice(ownerFirstInsertIndex(this.waiting.map(e => e.origin), entry.origin), 0, entry)
  }

  private pump (): void {
    while (this.running < this.concurrency && this.waiting.length > 0) {
      const next = this.waiting.shift() as Entry
      this.running++
      if (next.origin === 'remote') this.runningRemote++
      next.start()
    }
  }

  private noteArrival (origin: Origin, at: number): void {
    const list = this.arrivals[origin]
    list.push(at)
    // Bounded memory: beyond this the rate is high enough that older arrivals do not change the picture.
    if (list.length > 10_000) list.shift()
  }
}
