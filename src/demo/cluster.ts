/**
 * A network of `ppai node` processes on 127.0.0.1: the first is the bootstrap
 * peer of the others. Every child is registered for clean-up, so an exit, an
 * exception or Ctrl-C never leaves a node running.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { repoRoot } from '../data/questions.js'
import { NodeClient } from './node-client.js'
import { NodeProcess, type ReadyInfo } from './node-process.js'

export interface ClusterInit {
  count: number
  cliPath: string
  /** Each node gets `<rootDir>/<name>`. */
  rootDir: string
  /** Arguments of node `i` (name, data dir, ports, backend, policy...), without --bootstrap. */
  argsFor: (i: number, name: string, dir: string) => string[]
  startTimeoutMs: number
  env?: NodeJS.ProcessEnv
  /** A command that runs node `i` (e.g. in its network namespace: `ip netns exec <ns>`). */
  wrapFor?: (i: number) => string[]
  /** Bearer token of the nodes' HTTP APIs, sent by the clients. */
  apiToken?: string
}

/** Every child process of this demo, for the exit handlers. */
const live = new Set<NodeProcess>()
/** Synchronous clean-ups to run after the children are killed (temp folders). */
const exitTasks = new Set<() => void>()
let handlersInstalled = false

/** Runs `task` (synchronous) when the process exits or is interrupted; returns a function that cancels it. */
export function atExit (task: () => void): () => void {
  installCleanupHandlers()
  exitTasks.add(task)
  return () => { exitTasks.delete(task) }
}

function cleanUpNow (): void {
  for (const p of live) p.killNow()
  for (const task of exitTasks) {
    try {
      task()
    } catch {
      // best effort on the way out
    }
  }
  exitTasks.clear()
}

function installCleanupHandlers (): void {
  if (handlersInstalled) return
  handlersInstalled = true
  // 'exit' runs synchronously: only a kill is possible, and enough.
  process.on('exit', cleanUpNow)
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\n${signal}: stopping ${[...live].filter(p => p.running).length} node process(es)\n`)
      cleanUpNow()
      process.exit(signal === 'SIGINT' ? 130 : 143)
    })
  }
}

export class Cluster {
  readonly nodes: NodeProcess[] = []
  readonly clients: NodeClient[] = []

  constructor (readonly init: ClusterInit) {
    installCleanupHandlers()
    for (let i = 0; i < init.count; i++) {
      const name = `node-${String(i).padStart(2, '0')}`
      const dir = join(init.rootDir, name)
      mkdirSync(dir, { recursive: true })
      const p = new NodeProcess({ name, cliPath: init.cliPath, args: init.argsFor(i, name, dir), dir, startTimeoutMs: init.startTimeoutMs, env: init.env, wrap: init.wrapFor?.(i) })
      this.nodes.push(p)
      live.add(p)
    }
  }

  /** Bootstrap addresses of node `i` (loopback TCP, with its peer id), empty until it is ready. */
  addressesOf (i: number): string[] {
    const ready = this.nodes[i]?.ready
    if (ready == null || !this.nodes[i].running) return []
    const withId = ready.addresses.map(a => a.includes('/p2p/') ? a : `${a}/p2p/${ready.peerId}`)
    const loopback = withId.filter(a => a.startsWith('/ip4/127.0.0.1/'))
    return loopback.length > 0 ? loopback : withId
  }

  /** The bootstrap addresses of the first node. */
  bootstrapAddresses (): string[] {
    return this.addressesOf(0)
  }

  /**
   * Starts the first node, then a first wave of up to three bootstrapping to
   * it, then the rest bootstrapping to the first node and one of the first
   * wave, each `staggerMs` after the previous. libp2p refuses more than 5
   * inbound connections per second from one host (its
   * `inboundConnectionThreshold`), on 127.0.0.1 every node is the same host,
   * and a refused bootstrap dial is not retried: spreading the dials over
   * time and over several bootstrap peers keeps nodes from starting alone.
   */
  async start (staggerMs = 250): Promise<void> {
    const first = await this.nodes[0].start()
    this.clients[0] = new NodeClient(first.apiUrl, this.init.apiToken)
    const wave = Math.min(3, this.nodes.length - 1)
    const startOne = async (i: number, boot: string[], delayMs: number): Promise<void> => {
      await sleep(delayMs)
      const r = await this.nodes[i].start(boot)
      this.clients[i] = new NodeClient(r.apiUrl, this.init.apiToken)
    }
    const boot0 = this.addressesOf(0)
    await Promise.all(Array.from({ length: wave }, async (_, k) => await startOne(k + 1, boot0, k * staggerMs)))
    await Promise.all(this.nodes.slice(wave + 1).map(async (_, k) => {
      const i = wave + 1 + k
      const helper = 1 + (k % wave)
      await startOne(i, [...boot0, ...this.addressesOf(helper)], k * staggerMs)
    }))
  }

  /** Restarts the nodes that found no peer at all (a refused bootstrap dial is not retried); returns their indices. */
  async rejoinIsolated (counts: number[]): Promise<number[]> {
    const isolated = counts.map((c, i) => c === 0 && i > 0 ? i : -1).filter(i => i >= 0)
    for (const i of isolated) {
      await this.nodes[i].stop()
      await this.restart(i)
      await sleep(250)
    }
    return isolated
  }

  /** Starts node `i` again after it was killed: same data dir, same peer id; the API URL may change. */
  async restart (i: number): Promise<ReadyInfo> {
    // Two running peers to bootstrap from, so one refused dial does not leave it alone.
    const others = this.nodes.map((_, k) => k).filter(k => k !== i && this.nodes[k].running)
    const boot = [...new Set([others[0], others[1 + (i % Math.max(1, others.length - 1))]])].filter(k => k != null).flatMap(k => this.addressesOf(k))
    return await this.startWith(i, boot)
  }

  /** Starts node `i` with these bootstrap addresses (none: it finds peers by mDNS alone). */
  async startWith (i: number, bootstrap: string[]): Promise<ReadyInfo> {
    const ready = await this.nodes[i].start(bootstrap)
    this.clients[i] = new NodeClient(ready.apiUrl, this.init.apiToken)
    return ready
  }

  /** Node index by peer id, for attributing work to the node that served it. */
  indexOfPeer (peerId: string): number {
    return this.nodes.findIndex(n => n.ready?.peerId === peerId)
  }

  /**
   * Waits until every running node sees at least `minPeers` peers, or
   * `timeoutMs` passes. Returns the peer counts last seen, per node
   * (-1 for a node not running, NaN for one that did not answer).
   */
  async waitForPeers (minPeers: number, timeoutMs: number, onPoll?: (counts: number[]) => void): Promise<number[]> {
    const deadline = Date.now() + timeoutMs
    while (true) {
      const counts = await Promise.all(this.clients.map(async (c, i) => {
        if (!this.nodes[i].running) return -1
        try {
          return (await c.status(5_000)).peers
        } catch {
          // No answer (busy or starting): unknown, which is not "no peers".
          return Number.NaN
        }
      }))
      onPoll?.(counts)
      if (counts.every(n => n < 0 || n >= minPeers) || Date.now() >= deadline) return counts
      await sleep(250)
    }
  }

  /** Stops every node: SIGTERM, then SIGKILL after the grace period. */
  async stop (graceMs = 3_000): Promise<void> {
    await Promise.all(this.nodes.map(async n => await n.stop(graceMs)))
    for (const n of this.nodes) {
      n.close()
      live.delete(n)
    }
  }
}

/**
 * A bench network: `count` nodes of the built CLI on 127.0.0.1 (ephemeral
 * ports, no mDNS, warn logs, network `network`), each given `extraArgs`
 * (backend and so on), in a temporary folder that `dispose` (or the exit)
 * removes after stopping the nodes.
 */
export function benchCluster (count: number, network: string, extraArgs: string[]): { cluster: Cluster, dispose: () => Promise<void> } {
  const rootDir = mkdtempSync(join(tmpdir(), `${network}-`))
  const remove = (): void => { rmSync(rootDir, { recursive: true, force: true }) }
  const cancelRemoval = atExit(remove)
  const cluster = new Cluster({
    count,
    cliPath: join(repoRoot, 'dist', 'cli.js'),
    rootDir,
    startTimeoutMs: 60_000,
    env: { ...process.env, PPAI_LOG: 'warn' },
    argsFor: (_i, name, dir) => ['--name', name, '--data-dir', join(dir, 'data'), '--host', '127.0.0.1', '--port', '0', '--api-port', '0', '--no-mdns', '--network', network, '--log-level', 'warn', ...extraArgs]
  })
  return {
    cluster,
    dispose: async () => {
      await cluster.stop()
      remove()
      cancelRemoval()
    }
  }
}

export function sleep (ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms))
}

/** Resolves at wall-clock time `t` (ms), or sooner once `cancelled` says so (checked every 250 ms at most). */
export async function sleepUntil (t: number, cancelled?: () => boolean): Promise<void> {
  while (true) {
    const left = t - Date.now()
    if (left <= 0 || cancelled?.() === true) return
    await sleep(Math.min(left, 250))
  }
}
