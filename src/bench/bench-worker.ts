/**
 * The worker thread of `ppai bench` (see `bench-thread.ts`): runs the command
 * with the flags it was given and sends back the exit code. Started from the
 * compiled `dist/bench/bench-worker.js`.
 */
import { parentPort, workerData } from 'node:worker_threads'
import type { BenchThreadData, BenchThreadResult } from './bench-thread.js'
import { benchCommand } from './command.js'

const port = parentPort
if (port === null) throw new Error('bench-worker.js runs as a worker thread only')
const { flags, stderrIsTTY } = workerData as BenchThreadData
port.postMessage({ exitCode: await benchCommand(flags, { stderrIsTTY }) } satisfies BenchThreadResult)
