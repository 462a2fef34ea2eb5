/**
 * `startApi`: serves a node's HTTP API and dashboard. Loopback by default;
 * any other address is an explicit choice that requires a bearer token.
 */
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import { createHashEmbedder } from '../core/embedder.js'
import { ReasonError } from '../core/errors.js'
import { loadQuestionSet } from '../data/questions.js'
import { createLogger, type Logger } from '../log.js'
import type { NodeService } from '../net/service.js'
import { createApiApp } from './app.js'
import { isLoopbackHost } from './auth.js'
import { answerExpectContinue } from './body-limit.js'
import { HttpGuard, OriginListError, parseOriginList } from './http-guard.js'
import { buildSkillReferences, type SkillReferences } from './skills.js'

export interface ApiOptions {
  /** Listening address (default 127.0.0.1). */
  host?: string
  /** TCP port; 0 picks a free one. */
  port: number
  /** Bearer token; required when `host` is not a loopback address. */
  token?: string
  /** Origins of web pages allowed to call the API besides its own dashboard (`--api-origins`), e.g. `http://localhost:3000`; `*` for every origin. */
  origins?: string[]
  /** Largest accepted request body, bytes (default 256 KiB). */
  bodyLimitBytes?: number
  /** Deadline of one chat completion, ms (default 120 s). */
  requestTimeoutMs?: number
  /** Question folder that names the agent card's skills (`--data`; default: `PPAI_DATA`, then `../shared/data/mmlu-redux`, else the synthetic set). */
  dataDir?: string
  log?: Logger
}

export interface RunningApi {
  /** e.g. `http://127.0.0.1:8470`. */
  url: string
  close(): Promise<void>
}

/** Why an API configuration was refused. */
export class ApiConfigError extends ReasonError<'non_loopback_without_token' | 'empty_token' | 'invalid_port' | 'invalid_origin' | 'listen_failed'> {}

/**
 * Checks an API configuration without starting anything (the CLI calls it
 * before the node goes on the network); returns the normalised allowed
 * origins. Throws {@link ApiConfigError}.
 */
export function checkApiOptions (opts: Pick<ApiOptions, 'host' | 'port' | 'token' | 'origins'>): { host: string, origins: string[] } {
  const host = opts.host ?? '127.0.0.1'
  if (opts.token !== undefined && opts.token.trim() === '') throw new ApiConfigError('empty_token', 'the API token is empty')
  if (!isLoopbackHost(host) && opts.token == null) {
    throw new ApiConfigError('non_loopback_without_token', `refusing to serve the API on ${host} without a token: set --api-token, or keep the default 127.0.0.1`)
  }
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) throw new ApiConfigError('invalid_port', `invalid API port ${opts.port}`)
  try {
    return { host, origins: parseOriginList(opts.origins ?? []) }
  } catch (err) {
    if (err instanceof OriginListError) throw new ApiConfigError('invalid_origin', `--api-origins: ${err.message}`)
    throw err
  }
}

/** Starts listening; resolves once the port is bound. */
export async function startApi (service: NodeService, opts: ApiOptions): Promise<RunningApi> {
  const { host, origins } = checkApiOptions(opts)
  const log = opts.log ?? createLogger('api')
  const guard = new HttpGuard({ listenHost: host, origins })

  let references: SkillReferences | undefined
  let referencesFor = ''
  const skillReferences = (): SkillReferences | undefined => {
    const { embedderId, dim } = service.profile()
    if (referencesFor === embedderId) return references
    referencesFor = embedderId
    references = undefined
    try {
      const embedder = createHashEmbedder({ dim })
      if (embedder.id === embedderId) references = buildSkillReferences(loadQuestionSet({ dataDir: opts.dataDir }), embedder)
    } catch (err) {
      log.warn({ err }, 'no reference questions to name the agent card skills')
    }
    return references
  }

  const { app, feeds, bodyLimitBytes, refuseBody } = createApiApp(service, { token: opts.token, bodyLimitBytes: opts.bodyLimitBytes, requestTimeoutMs: opts.requestTimeoutMs, skillReferences, guard, log })
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: host, port: opts.port }, () => resolve(s))
    s.once('error', (err: NodeJS.ErrnoException) => reject(new ApiConfigError('listen_failed', `cannot serve the API on ${host}:${opts.port}: ${err.code === 'EADDRINUSE' ? 'the port is in use (pick another with --api-port, or 0 for any free one)' : err.message}`)))
  })
  answerExpectContinue(server as Server, bodyLimitBytes, refuseBody)
  const { port } = server.address() as AddressInfo
  guard.listening(port)
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`
  log.info({ url }, 'api listening')

  let closed: Promise<void> | undefined
  return {
    url,
    close: async () => {
      closed ??= new Promise<void>(resolve => {
        feeds.closeAll()
        server.close(() => resolve())
        // Open keep-alive and event-stream connections would hold close() forever.
        if ('closeAllConnections' in server) server.closeAllConnections()
      })
      await closed
    }
  }
}
