/**
 * The worker of a two-thread scenario build (see `parallel-build.ts`): it
 * takes chunks of profiles, then of rankings, beside the main thread, and
 * sends back what it built. Started from the compiled `dist/bench/build-worker.js`.
 */
import { parentPort } from 'node:worker_threads'
import type { Profile } from '../core/types.js'
import { buildPersonaProfile, NEXT_PROFILE, NEXT_QUERY, PersonaRanker, rankQuery, workShare, type BuildTask, type FromWorker, type ToWorker } from './parallel-build.js'

const port = parentPort
if (port === null) throw new Error('build-worker.js runs as a worker thread only')

let task: BuildTask | undefined
let counter: Int32Array | undefined

port.on('message', (m: ToWorker) => {
  if (m.kind === 'profiles') {
    const t = m.task
    task = t
    counter = m.counter
    const built: Array<[number, Profile]> = []
    workShare(m.counter, NEXT_PROFILE, t.personaIds.length, k => { built.push([k, buildPersonaProfile(t, k)]) })
    port.postMessage({ kind: 'profiles', built } satisfies FromWorker)
  } else {
    if (task === undefined || counter === undefined) throw new Error('rank before profiles')
    const t = task
    const ranker = new PersonaRanker(t, m.profiles)
    const ranked: Array<[number, number[]]> = []
    workShare(counter, NEXT_QUERY, m.queries.length / t.dim, q => { ranked.push([q, rankQuery(m.queries, t.dim, ranker, q)]) })
    port.postMessage({ kind: 'rankings', ranked } satisfies FromWorker)
  }
})

port.postMessage({ kind: 'ready' } satisfies FromWorker)
