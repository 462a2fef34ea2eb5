/**
 * `ppai bench` runs in a worker thread with a larger young generation than
 * V8's default. The simulator allocates ~20 KB per query, much of it living a
 * few simulated seconds (queries in flight, decisions, belief records that
 * grow); with the default 16 MB semi-spaces the scavenger copies that again
 * and again (about 12 s of a million-query run). A worker is the one place a
 * program can set its own heap sizes (`resourceLimits`) without flags on the
 * command line.
 */
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'

/** The bench thread's young generation, MB: 64 MB semi-spaces (V8 sizes the young generation at three semi-spaces). */
export const BENCH_YOUNG_GENERATION_MB = 192

/** What the bench worker is started with. */
export interface BenchThreadData {
  flags: Record<string, unknown>
  /** Whether this thread's stderr is a terminal (the progress bar redraws one line there). */
  stderrIsTTY: boolean
}

/** What the bench worker sends back: the command's exit code. */
export interface BenchThreadResult {
  exitCode: number
}

/** How to start the worker (tests run it from the TypeScript sources with a loader). */
export interface BenchThreadOptions {
  url?: URL
  execArgv?: string[]
}

/**
 * Runs the bench command with `flags` in a worker thread and resolves to its
 * exit code; undefined when the compiled worker is not there (running from
 * the TypeScript sources): the caller then runs it on this thread.
 */
export async function runBenchThread (flags: Record<string, unknown>, opts: BenchThreadOptions = {}): Promise<number | undefined> {
  const url = opts.url ?? new URL('./bench-worker.js', import.meta.url)
  if (url.protocol === 'file:' && !existsSync(fileURLToPath(url))) return undefined
  const worker = new Worker(url, {
    workerData: { flags, stderrIsTTY: process.stderr.isTTY === true } satisfies BenchThreadData,
    resourceLimits: { maxYoungGenerationSizeMb: BENCH_YOUNG_GENERATION_MB },
    ...(opts.execArgv !== undefined ? { execArgv: opts.execArgv } : {})
  })
  return await new Promise<number>((resolve, reject) => {
    let exitCode: number | undefined
    worker.on('message', (m: BenchThreadResult) => { exitCode = m.exitCode })
    worker.once('error', reject)
    // The worker's output reaches this thread's stdout/stderr before 'exit'.
    worker.once('exit', code => { resolve(exitCode ?? (code !== 0 ? code : 1)) })
  })
}
