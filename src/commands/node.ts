/**
 * `ppai node`: run a node (libp2p + agent + HTTP API). This is the wiring of
 * one process: flags and config file, embedder, backend, saved state, the
 * node (`net/node.ts`) and the HTTP API over it (`api/server.ts`), the ready
 * line and the shutdown on a signal.
 */
import { writeFile, rename } from 'node:fs/promises'
import { Command, Option } from 'commander'
import { addBackendOptions, createBackend, type BackendOptions } from '../agent/index.js'
import { OpenAiBackendError } from '../agent/openai.js'
import { ApiConfigError, checkApiOptions, startApi } from '../api/server.js'
import { EXPERT_ADMISSION } from '../core/admission.js'
import { DEFAULT_LATENCY_WEIGHT } from '../core/router.js'
import { POLICY_NAMES, type PolicyName } from '../core/types.js'
import { createLogger } from '../log.js'
import { NetworkIdSchema, NodeNameSchema, type NodeConfigFile } from '../net/frames.js'
import { defaultDataDir } from '../net/identity.js'
import { EMBEDDER_SPECS, EmbedderSpecError, resolveEmbedder } from '../net/embedder-spec.js'
import { createPpaiNode, DEFAULT_NETWORK } from '../net/node.js'
import { NodeStateStore, StateSaver } from '../net/node-state.js'
import { ConfigFileError, readConfigFile, readSeedFile } from './node-files.js'

interface NodeFlags extends Record<string, unknown> {
  name?: string
  dataDir?: string
  port?: string
  host?: string
  bootstrap?: string[]
  config?: string
  network?: string
  mdns: boolean
  apiPort?: string
  apiHost?: string
  apiToken?: string
  apiOrigins?: string[]
  policy?: string
  logLevel?: string
  readyFile?: string
  beaconIntervalMs?: string
  concurrency?: string
  latencyWeight?: string
  seedFile?: string
  maxRemoteQueued?: string
  expertAdmission: boolean
  sessionsPerPeer?: string
  ownerWaitBoundMs?: string
  embedder: string
  embedderUrl?: string
  embedderKey?: string
  embedderTimeoutMs: string
}

function toNumber (value: string | number | undefined, flag: string): number | undefined {
  if (value == null) return undefined
  const n = Number(value)
  if (!Number.isFinite(n)) throw new Error(`${flag}: not a number: ${value}`)
  return n
}

/** Registers `ppai node`. */
export function registerNodeCommand (program: Command): void {
  const node = program.command('node')
    .description('run a PPAI node: a libp2p peer with an agent and an HTTP API')
    .option('--name <name>', 'node name, 1-64 characters, shown to peers (default: node)')
    .option('--data-dir <dir>', 'where the key, the profile and the observations of peers are kept, saved soon after each rating (default ~/.ppai/<name>)')
    .option('--port <port>', 'libp2p TCP port (0 = any free port)')
    .option('--host <host>', 'libp2p listen address (default 127.0.0.1; 0.0.0.0 for a LAN)')
    .option('--bootstrap <multiaddr>', 'bootstrap peer multiaddr (with /p2p/<id>); repeatable', (v: string, prev: string[] = []) => [...prev, v])
    .option('--config <file>', 'JSON config file (flags override it)')
    .option('--network <id>', `network id (default ${DEFAULT_NETWORK})`)
    .option('--no-mdns', 'do not discover peers on the LAN by mDNS')
    .option('--api-port <port>', 'HTTP API port (default 8470, or apiPort of the config file; 0 = any free port)')
    .option('--api-host <host>', 'HTTP API address (default 127.0.0.1; others need --api-token)')
    .option('--api-token <token>', 'bearer token required by the HTTP API')
    .option('--api-origins <origins>', 'origins of web pages allowed to call the API besides its own dashboard, comma-separated (e.g. http://localhost:3000; * for every origin; default none); repeatable',
      (v: string, prev: string[] = []) => [...prev, v])
    .addOption(new Option('--policy <name>', 'routing policy').choices([...POLICY_NAMES]))
    .option('--beacon-interval-ms <ms>', 'period of load beacons (default 2000)')
    .option('--concurrency <n>', 'queries served at once (default 1)')
    .option('--max-remote-queued <n>', `remote queries queued at once before refusing (default 4; ${EXPERT_ADMISSION.maxRemoteQueued} for a query this agent is expert for)`)
    .option('--no-expert-admission', `lend the agent to peers on any question; by default, in a space with a corpus reference (lsa:<file>), a peer's question is refused when the own profile predicts success below ${EXPERT_ADMISSION.minSuccess}, and one above is admitted on looser terms`)
    .option('--sessions-per-peer <n>', 'query session streams kept open per peer for delegated queries (default 4; 0 = a new stream per query)')
    .option('--owner-wait-bound-ms <ms>', `longest predicted wait the owner accepts before remote queries are refused (default 2 x service time; ${EXPERT_ADMISSION.ownerWaitServices} x for a query this agent is expert for)`)
    .option('--latency-weight <λ>', `utility lost per second of expected latency (default ${DEFAULT_LATENCY_WEIGHT})`)
    .option('--embedder <spec>', `embedding space, the same on every node of a network: ${EMBEDDER_SPECS}. ` +
      'hash: feature hashing, no model; lsa:<file>: a fitted LSA space read from <file>; ' +
      'openai:<model>: <model> of an OpenAI-compatible /v1/embeddings (Ollama, llama.cpp, vLLM) at --embedder-url, checked with a probe text at start', 'hash')
    .option('--embedder-url <url>', 'openai:<model> embedder: base URL up to /v1 (default: --backend-url)')
    .option('--embedder-key <key>', 'openai:<model> embedder: API key (bearer token), if the server wants one (default: --backend-key)')
    .option('--embedder-timeout-ms <ms>', 'openai:<model> embedder: timeout of one embedding, ms', '15000')
    .option('--seed-file <file>', 'JSON [{question, outcome?}] of the owner\'s tasks, to seed an empty profile')
    .option('--ready-file <file>', 'write the ready line (JSON) to this file too')
    .option('--log-level <level>', 'pino level: trace|debug|info|warn|error|silent (default info)')
  addBackendOptions(node)
  node.action(async (flags: NodeFlags) => {
    /** A mistake in the command line or its files: one line on stderr, exit code 2, no stack trace. */
    const refuse = (message: string): void => {
      process.stderr.write(`ppai node: ${message}\n`)
      process.exitCode = 2
    }
    let config: NodeConfigFile = {}
    let seed: Array<{ question: string, outcome?: number }> | undefined
    try {
      if (flags.config != null) config = await readConfigFile(flags.config)
      if (flags.seedFile != null) seed = await readSeedFile(flags.seedFile)
    } catch (err) {
      if (!(err instanceof ConfigFileError)) throw err
      return refuse(err.message)
    }
    const name = flags.name ?? config.name ?? 'node'
    const named = NodeNameSchema.safeParse(name)
    // Peers drop a record whose name is longer: refuse it here rather than be invisible to them.
    if (!named.success) return refuse(`--name: ${named.error.issues[0]?.message ?? 'invalid'} (got ${name.length} characters)`)
    const logLevel = flags.logLevel ?? process.env.PPAI_LOG ?? 'info'
    const log = createLogger(`ppai:${name}`, logLevel)
    const network = NetworkIdSchema.parse(flags.network ?? config.network ?? DEFAULT_NETWORK)
    const dataDir = flags.dataDir ?? config.dataDir ?? defaultDataDir(name)
    const policy = (flags.policy ?? config.policy ?? 'ppai') as PolicyName
    if (!POLICY_NAMES.includes(policy)) throw new Error(`unknown policy ${policy}; one of ${POLICY_NAMES.join(', ')}`)

    const apiOpts = {
      host: flags.apiHost ?? config.apiHost,
      port: toNumber(flags.apiPort, '--api-port') ?? config.apiPort ?? 8470,
      token: flags.apiToken ?? config.apiToken,
      origins: flags.apiOrigins ?? config.apiOrigins
    }
    try {
      // Before the node goes on the network: a configuration the API would refuse stops here, in one line.
      checkApiOptions(apiOpts)
    } catch (err) {
      if (!(err instanceof ApiConfigError)) throw err
      return refuse(err.message)
    }

    let embedder
    try {
      embedder = await resolveEmbedder(flags.embedder, {
        url: flags.embedderUrl ?? (flags.backendUrl as string | undefined),
        apiKey: flags.embedderKey ?? (flags.backendKey as string | undefined),
        timeoutMs: toNumber(flags.embedderTimeoutMs, '--embedder-timeout-ms')
      })
    } catch (err) {
      if (!(err instanceof EmbedderSpecError)) throw err
      process.stderr.write(`ppai node: ${err.message}\n`)
      process.exitCode = 2
      return
    }
    log.info({ embedder: embedder.id }, 'embedder ready')

    const backendOpts = { ...flags, name, backend: (flags.backend as string | undefined) ?? config.backend } as unknown as BackendOptions
    const { backend } = createBackend(backendOpts, log)

    // What the node learnt before (a crash included): damaged or foreign files are moved aside and named.
    const store = new NodeStateStore(dataDir, embedder.id, log)
    const saved = await store.load()
    if (saved.profile == null && saved.from.length === 0) log.info({ dataDir }, 'no saved profile: starting from the seed or empty')

    let ppai: Awaited<ReturnType<typeof createPpaiNode>>
    // Saves soon after each rating; reads the node only once it exists (the first rating comes after start).
    const saver = new StateSaver(store, { profile: () => ppai.profile(), peerState: () => ppai.peerState() }, undefined, log)
    try {
      ppai = await createPpaiNode({
        name,
        network,
        dataDir,
        host: flags.host ?? config.host,
        port: toNumber(flags.port, '--port') ?? config.port ?? 0,
        bootstrap: [...(config.bootstrap ?? []), ...(flags.bootstrap ?? [])],
        mdns: flags.mdns && config.mdns !== false,
        backend,
        policy,
        embedder,
        profile: saved.profile,
        peerState: saved.peers,
        onLearn: () => saver.changed(),
        seed,
        concurrency: toNumber(flags.concurrency, '--concurrency'),
        admission: { maxRemoteQueued: toNumber(flags.maxRemoteQueued, '--max-remote-queued'), ownerWaitBoundMs: toNumber(flags.ownerWaitBoundMs, '--owner-wait-bound-ms') },
        expertAdmission: flags.expertAdmission,
        beaconIntervalMs: toNumber(flags.beaconIntervalMs, '--beacon-interval-ms') ?? config.beaconIntervalMs,
        latencyWeight: toNumber(flags.latencyWeight, '--latency-weight'),
        sessionsPerPeer: toNumber(flags.sessionsPerPeer, '--sessions-per-peer'),
        log
      })
    } catch (err) {
      // Only an openai: embedder fails here on its own (embedding the seed before the node goes on the network).
      if (!(err instanceof OpenAiBackendError)) throw err
      process.stderr.write(`ppai node: cannot embed the seed file: ${err.message}\n`)
      process.exitCode = 2
      return
    }
    let api: { url: string, close(): Promise<void> }
    try {
      api = await startApi(ppai, { ...apiOpts, dataDir: typeof flags.data === 'string' ? flags.data : undefined, log })
    } catch (err) {
      await ppai.stop()
      if (!(err instanceof ApiConfigError)) throw err
      return refuse(err.message)
    }
    const ready = { event: 'ready', name, peerId: ppai.peerId, network, multiaddrs: ppai.multiaddrs(), api: api.url, policy, agent: backend.description, embedder: embedder.id, dataDir, stateSetAside: saved.setAside }
    log.info({ ...ready, name: undefined, nodeName: name }, 'ready')
    process.stdout.write(JSON.stringify(ready) + '\n')
    if (flags.readyFile != null) {
      // Written then renamed, so a reader never sees half a file.
      await writeFile(flags.readyFile + '.tmp', JSON.stringify(ready) + '\n')
      await rename(flags.readyFile + '.tmp', flags.readyFile)
    }

    let stopping = false
    const shutdown = async (signal: string): Promise<void> => {
      if (stopping) {
        log.warn({ signal }, 'second signal: exiting now')
        process.exit(1)
      }
      stopping = true
      log.info({ signal }, 'shutting down')
      const hardStop = setTimeout(() => process.exit(1), 10_000)
      hardStop.unref()
      try {
        await api.close()
        await saver.flush({ close: true })
        await ppai.stop()
        process.exit(0)
      } catch (err) {
        log.error({ err: (err as Error).message }, 'unclean shutdown')
        process.exit(1)
      }
    }
    process.on('SIGINT', () => { void shutdown('SIGINT') })
    process.on('SIGTERM', () => { void shutdown('SIGTERM') })
  })
}
