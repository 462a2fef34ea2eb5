/**
 * The expensive half of building a scenario — the personas' profiles, then
 * the candidate ranking of every asked question — as plain data that one
 * thread or two can work through.
 *
 * With two, the main thread and one worker (`build-worker.ts`) take chunks
 * from a shared counter, so a thread slowed by a neighbour simply takes fewer.
 * A profile depends only on its examples, and a ranking only on the index,
 * which each thread builds from the same profiles in the same order (the same
 * training): the world is the one a single thread builds, bit for bit.
 */
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { referenceOf, registerReference } from '../core/expertise.js'
import { buildProfile, type BuildOptions } from '../core/prototypes.js'
import { BucketCode } from '../core/bucket-code.js'
import { CandidateIndex } from '../core/retrieval.js'
import type { ScoringOptions } from '../core/scoring.js'
import type { Profile, Prototype } from '../core/types.js'
import { createLogger } from '../log.js'

/** What building profiles and rankings needs: plain data, cloned once to the worker. */
export interface BuildTask {
  embedderId: string
  dim: number
  /** Fixes the index's bucket code and training sample. */
  networkId: string
  kernel: ScoringOptions
  /** The embedding space's corpus density (empty for a space without one), registered on whichever thread builds. */
  reference: Prototype[]
  /** How the personas' profiles are built; empty = the core's defaults (as on the node). */
  profile: BuildOptions
  /** Index ids of the personas, in insertion order. */
  personaIds: string[]
  /** Embeddings of the training questions, flat (`dim` each). */
  trainEmbeddings: Float32Array
  /** Per persona, `examplesPerPersona` examples: a training question's row and its outcome (1 right, 0 wrong). */
  examplesPerPersona: number
  exampleRows: Int32Array
  exampleOutcomes: Uint8Array
  /** Candidates kept per question. */
  limit: number
}

/** The profiles, and each asked question's personas, best first. */
export interface BuildOutput {
  profiles: Profile[]
  rankings: number[][]
  /** The main thread's ranker, for questions outside the pool. */
  ranker: PersonaRanker
  /** 1, or 2 when a worker took part. */
  threads: number
  /** Profiles and rankings the worker built. */
  byWorker: { profiles: number, rankings: number }
}

/** Persona `k`'s profile: the examples drawn for it, in order (deterministic). */
export function buildPersonaProfile (task: BuildTask, k: number): Profile {
  const { dim, examplesPerPersona: m } = task
  if (task.reference.length > 0 && referenceOf(task.embedderId) === undefined) registerReference(task.embedderId, task.reference)
  const examples: Array<{ embedding: Float32Array, outcome: number }> = []
  for (let n = k * m; n < (k + 1) * m; n++) {
    const row = task.exampleRows[n]
    examples.push({ embedding: task.trainEmbeddings.subarray(row * dim, row * dim + dim), outcome: task.exampleOutcomes[n] })
  }
  return buildProfile(task.embedderId, dim, examples, task.profile)
}

/** The candidate index over the personas' profiles, answering with persona numbers. */
export class PersonaRanker {
  private readonly index: CandidateIndex
  private readonly numbers: Map<string, number>
  private readonly limit: number

  constructor (task: BuildTask, profiles: readonly Profile[]) {
    this.index = new CandidateIndex(new BucketCode(task.networkId, task.dim), task.kernel)
    task.personaIds.forEach((id, k) => this.index.upsert(id, profiles[k]))
    this.numbers = new Map(task.personaIds.map((id, k) => [id, k]))
    this.limit = task.limit
  }

  /** The personas likely best on `embedding`, best first. */
  rank (embedding: Float32Array): number[] {
    return this.index.candidates(embedding, this.limit).map(id => this.numbers.get(id) ?? -1).filter(k => k >= 0)
  }
}

/** The ranking of asked question `q`, of embeddings `queries` (flat, `dim` each). */
export function rankQuery (queries: Float32Array, dim: number, ranker: PersonaRanker, q: number): number[] {
  return ranker.rank(queries.subarray(q * dim, q * dim + dim))
}

/** Slots of the shared counter: the next persona to build, the next question to rank. */
export const NEXT_PROFILE = 0
export const NEXT_QUERY = 1
/** Chunks small enough to even out two threads, large enough that claiming costs nothing. */
const PROFILE_CHUNK = 8
const QUERY_CHUNK = 32

/** Claims chunks of `total` items from `counter[slot]` until none is left, calling `work` on each item claimed. */
export function workShare (counter: Int32Array, slot: number, total: number, work: (item: number) => void): void {
  const chunk = slot === NEXT_PROFILE ? PROFILE_CHUNK : QUERY_CHUNK
  for (;;) {
    const start = Atomics.add(counter, slot, chunk)
    if (start >= total) return
    for (let i = start; i < Math.min(total, start + chunk); i++) work(i)
  }
}

/** Messages to the worker. */
export type ToWorker =
  | { kind: 'profiles', task: BuildTask, counter: Int32Array }
  | { kind: 'rank', profiles: Profile[], queries: Float32Array }

/** Messages from the worker: what it built, by persona or question number. */
export type FromWorker =
  | { kind: 'ready' }
  | { kind: 'profiles', built: Array<[number, Profile]> }
  | { kind: 'rankings', ranked: Array<[number, number[]]> }

/** Builds everything on this thread alone; `queries` are the asked questions' embeddings, flat, in the pool's order. */
export function buildInThread (task: BuildTask, queries: Float32Array): BuildOutput {
  const profiles = task.personaIds.map((_, k) => buildPersonaProfile(task, k))
  const ranker = new PersonaRanker(task, profiles)
  const rankings: number[][] = []
  for (let q = 0; q < queries.length / task.dim; q++) rankings.push(rankQuery(queries, task.dim, ranker, q))
  return { profiles, rankings, ranker, threads: 1, byWorker: { profiles: 0, rankings: 0 } }
}

/** Where the compiled worker sits: next to this module in `dist/`. */
export function defaultWorkerUrl (): URL {
  return new URL('./build-worker.js', import.meta.url)
}

/** How to start the worker (tests run it from the TypeScript sources with a loader). */
export interface WorkerOptions {
  url?: URL
  execArgv?: string[]
}

/**
 * Starts the build worker, or returns undefined when its file is not there
 * (running from the TypeScript sources without a loader) or it cannot start:
 * the caller then builds in-thread, to the same result.
 */
export function startBuildWorker (opts: WorkerOptions = {}): Worker | undefined {
  const url = opts.url ?? defaultWorkerUrl()
  if (url.protocol === 'file:' && !existsSync(fileURLToPath(url))) return undefined
  try {
    return new Worker(url, opts.execArgv !== undefined ? { execArgv: opts.execArgv } : {})
  } catch (err) {
    warn(err, 'build worker did not start; building on one thread')
    return undefined
  }
}

/**
 * Builds with `worker` taking chunks beside this thread. Should the worker
 * fail, everything is built again on this thread: same result, only slower.
 * The worker is terminated either way.
 */
export async function buildWithWorker (task: BuildTask, embedQueries: () => Float32Array, worker: Worker): Promise<BuildOutput> {
  const inbox = new WorkerInbox(worker)
  let queries: Float32Array | undefined
  try {
    // Its modules loaded while this thread drew the world: usually ready already.
    await inbox.receive('ready')
    const counter = new Int32Array(new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT))
    worker.postMessage({ kind: 'profiles', task, counter } satisfies ToWorker)
    // Embedded while the worker starts on the profiles: needed only for the rankings.
    queries = embedQueries()
    const personas = task.personaIds.length
    const profiles = new Array<Profile | undefined>(personas)
    workShare(counter, NEXT_PROFILE, personas, k => { profiles[k] = buildPersonaProfile(task, k) })
    const theirs = await inbox.receive('profiles')
    for (const [k, p] of theirs.built) profiles[k] = p
    const all = complete(profiles, 'profile')
    worker.postMessage({ kind: 'rank', profiles: all, queries } satisfies ToWorker)
    const ranker = new PersonaRanker(task, all)
    const asked = queries
    const rankings = new Array<number[] | undefined>(asked.length / task.dim)
    workShare(counter, NEXT_QUERY, rankings.length, q => { rankings[q] = rankQuery(asked, task.dim, ranker, q) })
    const ranked = await inbox.receive('rankings')
    for (const [q, list] of ranked.ranked) rankings[q] = list
    return { profiles: all, rankings: complete(rankings, 'ranking'), ranker, threads: 2, byWorker: { profiles: theirs.built.length, rankings: ranked.ranked.length } }
  } catch (err) {
    warn(err, 'build worker failed; building on one thread')
    return buildInThread(task, queries ?? embedQueries())
  } finally {
    inbox.close()
    await worker.terminate()
  }
}

/** A warning on stderr (the logger is made only when there is something to say). */
function warn (err: unknown, message: string): void {
  createLogger('ppai:bench').warn({ err }, message)
}

/** The items, once every one is there (holes included: `new Array(n)` has them). */
function complete<T> (items: Array<T | undefined>, what: string): T[] {
  for (let i = 0; i < items.length; i++) if (items[i] === undefined) throw new Error(`${what} ${i} was built by neither thread`)
  return items as T[]
}

/** The worker's messages in order; an error or an early exit fails the next receive. */
class WorkerInbox {
  private readonly queue: FromWorker[] = []
  private failure: Error | undefined
  private wake: (() => void) | undefined
  private readonly onMessage = (m: FromWorker): void => { this.queue.push(m); this.wake?.() }
  private readonly onError = (err: Error): void => { this.failure = err; this.wake?.() }
  private readonly onExit = (code: number): void => { this.failure ??= new Error(`build worker exited with code ${code}`); this.wake?.() }

  private readonly worker: Worker

  constructor (worker: Worker) {
    this.worker = worker
    worker.on('message', this.onMessage)
    worker.on('error', this.onError)
    worker.on('exit', this.onExit)
  }

  async receive<K extends FromWorker['kind']> (kind: K): Promise<Extract<FromWorker, { kind: K }>> {
    for (;;) {
      const next = this.queue.shift()
      if (next !== undefined) {
        if (next.kind !== kind) throw new Error(`build worker sent ${next.kind}, expected ${kind}`)
        return next as Extract<FromWorker, { kind: K }>
      }
      if (this.failure !== undefined) throw this.failure
      await new Promise<void>(resolve => { this.wake = resolve })
      this.wake = undefined
    }
  }

  close (): void {
    this.worker.off('message', this.onMessage)
    this.worker.off('error', this.onError)
    this.worker.off('exit', this.onExit)
  }
}
