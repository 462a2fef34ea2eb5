/**
 * One `ppai node` as a child process of the demo: started with its own data
 * dir (so a restart is the same peer), ready when it prints its ready line,
 * stopped gently (SIGTERM) or killed abruptly (SIGKILL, a device dropping off).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs'
import { join } from 'node:path'
import { z } from 'zod'
import { ReasonError } from '../core/errors.js'

/** The ready line `ppai node` prints on stdout (one JSON object), as far as the demo reads it. */
export const readyLineSchema = z.looseObject({
  peerId: z.string().min(1),
  addresses: z.array(z.string()).optional(),
  multiaddrs: z.array(z.string()).optional(),
  api: z.string().optional(),
  apiUrl: z.string().optional()
}).transform(r => ({
  peerId: r.peerId,
  addresses: r.addresses ?? r.multiaddrs ?? [],
  apiUrl: r.apiUrl ?? r.api ?? ''
}))
export type ReadyInfo = z.output<typeof readyLineSchema>

export type NodeStartFailure = 'exited' | 'timeout' | 'no-api'

export class NodeStartError extends ReasonError<NodeStartFailure> {}

export interface NodeProcessInit {
  /** Node name, also its folder under the demo's temp dir. */
  name: string
  /** The CLI entry point (dist/cli.js). */
  cliPath: string
  /** Arguments after `node`, without --bootstrap (given at start). */
  args: string[]
  /** Folder for its data dir and its log file. */
  dir: string
  startTimeoutMs: number
  env?: NodeJS.ProcessEnv
  /** A command that runs the node, e.g. `['ip', 'netns', 'exec', '<ns>']` (it must exec the node, so a kill reaches it). */
  wrap?: string[]
}

/** A node child process that can be started, killed and started again. */
export class NodeProcess {
  private child?: ChildProcess
  private log?: WriteStream
  private exited?: Promise<void>
  /** Set once started; kept across restarts (same data dir, same peer). */
  ready?: ReadyInfo
  starts = 0

  constructor (readonly init: NodeProcessInit) {}

  get running (): boolean {
    return this.child != null && this.child.exitCode == null && this.child.signalCode == null
  }

  get pid (): number | undefined {
    return this.child?.pid
  }

  get logFile (): string {
    return join(this.init.dir, 'node.log')
  }

  /** Starts the process and resolves with its ready line; rejects if it exits first or takes too long. */
  async start (bootstrap: string[] = []): Promise<ReadyInfo> {
    if (this.running) throw new Error(`${this.init.name} is already running`)
    this.starts++
    this.log ??= createWriteStream(this.logFile, { flags: 'a' })
    const args = [this.init.cliPath, 'node', ...this.init.args, ...bootstrap.flatMap(a => ['--bootstrap', a])]
    const [command, ...prefix] = [...(this.init.wrap ?? []), process.execPath]
    const child = spawn(command, [...prefix, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: this.init.env ?? process.env })
    this.child = child
    this.exited = new Promise(resolve => child.once('exit', () => resolve()))
    child.stderr?.pipe(this.log, { end: false })
    return await new Promise<ReadyInfo>((resolve, reject) => {
      let buffered = ''
      let settled = false
      const finish = (err?: Error, info?: ReadyInfo): void => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        if (err != null) reject(err)
        else resolve(info as ReadyInfo)
      }
      const timer = setTimeout(() => finish(new NodeStartError('timeout', `${this.init.name} did not print its ready line within ${this.init.startTimeoutMs} ms (log: ${this.logFile})`)), this.init.startTimeoutMs)
      child.stdout?.setEncoding('utf8')
      child.stdout?.on('data', (chunk: string) => {
        this.log?.write(chunk)
        if (settled) return
        buffered += chunk
        let nl: number
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl).trim()
          buffered = buffered.slice(nl + 1)
          if (!line.startsWith('{')) continue
          let parsed: ReturnType<typeof readyLineSchema.safeParse>
          try {
            parsed = readyLineSchema.safeParse(JSON.parse(line))
          } catch {
            continue
          }
          if (!parsed.success) continue
          if (parsed.data.apiUrl === '') {
            finish(new NodeStartError('no-api', `${this.init.name}'s ready line names no API URL: ${line}`))
            return
          }
          this.ready = parsed.data
          finish(undefined, parsed.data)
        }
      })
      child.once('exit', (code, signal) => {
        // The log stream may still hold the last lines: let it flush before quoting it.
        setTimeout(() => finish(new NodeStartError('exited', `${this.init.name} exited (${signal ?? `code ${code}`}) before it was ready; last log lines:\n${this.logTail()}`)), 100)
      })
    })
  }

  /** The last lines of its log, for error messages. */
  logTail (lines = 8): string {
    try {
      return readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
    } catch {
      return '(no log)'
    }
  }

  /** Kills it at once, as a device that loses power or network would vanish. */
  async kill (): Promise<void> {
    if (!this.running) return
    this.child?.kill('SIGKILL')
    await this.exited
  }

  /** Asks it to shut down cleanly; kills it after `graceMs`. */
  async stop (graceMs = 3_000): Promise<void> {
    if (!this.running) return
    this.child?.kill('SIGTERM')
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), graceMs)
    await this.exited
    clearTimeout(timer)
  }

  /** Synchronous last resort on process exit: no awaiting possible there. */
  killNow (): void {
    if (this.running) this.child?.kill('SIGKILL')
  }

  /** Closes the log file once the node is gone for good. */
  close (): void {
    this.log?.end()
    this.log = undefined
  }
}
