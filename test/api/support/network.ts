/**
 * A small real network for the API tests: libp2p nodes on 127.0.0.1 (mDNS
 * off, bootstrapped to the first), each with an agent backend and its HTTP
 * API. Node i is seeded with questions of one subject of the built-in
 * synthetic workload, so profiles, maps and skills have content.
 */
import type { AgentBackend } from '../../../src/agent/backend.js'
import { createInstantBackend } from '../../../src/agent/instant.js'
import { startApi, type ApiOptions, type RunningApi } from '../../../src/api/server.js'
import { syntheticQuestionSet } from '../../../src/data/questions.js'
import { createPpaiNode, type PpaiNode } from '../../../src/net/node.js'

export interface ApiNetwork {
  services: PpaiNode[]
  apis: RunningApi[]
  /** Parameters of the synthetic seed workload, printed by tests that report numbers. */
  seedParams: Record<string, number | string>
  close(): Promise<void>
}

export interface ApiNetworkOptions {
  nodes: number
  /** Backend per node (default: an instant backend labelled with the node's name). */
  backends?: AgentBackend[]
  api?: Partial<ApiOptions>
  /** After a warm-up query per node, wait until every node knows every other node's profile (default true). */
  waitForProfiles?: boolean
}

const SEED_QUESTIONS = 16

export async function startApiNetwork (opts: ApiNetworkOptions): Promise<ApiNetwork> {
  const set = syntheticQuestionSet(7)
  const services: PpaiNode[] = []
  const apis: RunningApi[] = []
  const close = async (): Promise<void> => {
    await Promise.allSettled(apis.map(a => a.close()))
    await Promise.allSettled(services.map(s => s.stop()))
  }
  try {
    for (let i = 0; i < opts.nodes; i++) {
      const name = `node-${i}`
      const subject = set.subjects[i % set.subjects.length]
      const other = set.subjects[(i + 3) % set.subjects.length]
      const seed = [
        ...set.questions.filter(q => q.subject === subject).slice(0, SEED_QUESTIONS).map(q => ({ question: q.question, outcome: 1 })),
        ...set.questions.filter(q => q.subject === other).slice(0, SEED_QUESTIONS / 2).map(q => ({ question: q.question, outcome: 0 }))
      ]
      services.push(await createPpaiNode({
        name,
        network: 'ppai-api-test',
        host: '127.0.0.1',
        port: 0,
        mdns: false,
        bootstrap: i === 0 ? [] : services[0].multiaddrs(),
        backend: opts.backends?.[i] ?? createInstantBackend({ label: name }),
        seed,
        beaconIntervalMs: 500,
        // Short, so that a lookup made before a peer's records were published is soon retried.
        providerCacheMs: 500,
        lookupTimeoutMs: 500,
        logLevel: 'silent'
      }))
    }
    // A full mesh at once: waiting for the DHT to introduce the non-bootstrap nodes takes seconds.
    for (let i = 1; i < services.length; i++) {
      for (let j = 0; j < i; j++) await services[i].connect(services[j].multiaddrs()[0])
    }
    for (const s of services) apis.push(await startApi(s, { port: 0, ...opts.api }))
    if (opts.nodes > 1) await waitFor(services, 'peers', 15_000)
    if (opts.waitForProfiles !== false && opts.nodes > 1) {
      // Peers' profiles arrive by gossip when published, or by DHT lookup when a query looks for candidates:
      // warm-up queries (bounded in count and time) until every node has looked every other one up.
      const warmUp = set.questions.slice(0, 40)
      // Publish again now that the DHT has peers: the node's own early publication may have found none.
      await Promise.all(services.map(s => s.publishProfile()))
      await waitFor(services, 'profiles', 20_000, async (s, round) => { await s.ask(`warm-up ${round}: ${warmUp[round % warmUp.length].question}`) })
    }
  } catch (err) {
    await close()
    throw err
  }
  return { services, apis, seedParams: { ...set.syntheticParams, seedQuestionsPerNode: SEED_QUESTIONS * 1.5 }, close }
}

/** Resolves once every node lists every other node (`peers`), with an advertised profile (`profiles`). */
async function waitFor (services: PpaiNode[], what: 'peers' | 'profiles', timeoutMs: number, nudge?: (lagging: PpaiNode, round: number) => Promise<void>): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let round = 0
  const knowsAll = (s: PpaiNode): boolean => {
    const known = new Map(s.peers().map(p => [p.peerId, p]))
    return services.every(o => o === s || (known.has(o.peerId) && (what === 'peers' || (known.get(o.peerId)?.prototypes.length ?? 0) > 0)))
  }
  const ready = (): boolean => services.every(knowsAll)
  while (!ready()) {
    if (nudge != null && round % 5 === 0) await Promise.all(services.filter(s => !knowsAll(s)).map(s => nudge(s, round)))
    round++
    if (Date.now() > deadline) {
      const view = services.map(s => `${s.name}: ${s.peers().map(p => `${p.name ?? p.peerId.slice(-6)}(${p.prototypes.length})`).join(' ')}`).join('; ')
      throw new Error(`nodes did not learn each other's ${what} within ${timeoutMs} ms: ${view}`)
    }
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}
