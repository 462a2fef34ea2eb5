/**
 * The HTTP application of a node: routes, auth, body limit and the one place
 * where every failure becomes an OpenAI-style error object.
 */
import { Hono, type Context } from 'hono'
import { HTTPException } from 'hono/http-exception'
import { ZodError } from 'zod'
import type { Logger } from '../log.js'
import { RejectionCounter } from '../net/rejections.js'
import type { NodeService } from '../net/service.js'
import { a2aRoutes, agentCardJson } from './a2a.js'
import { buildAgentCard } from './agent-card.js'
import { requireBearer } from './auth.js'
import { limitBody } from './body-limit.js'
import { dashboardAsset } from './dashboard-assets.js'
import { ApiError, type ApiErrorReason } from './errors.js'
import { FeedRegistry } from './event-feed.js'
import { HttpGuard } from './http-guard.js'
import { nodeRoutes } from './node-routes.js'
import { openAiRoutes } from './openai-routes.js'
import { describeIssues } from './schemas.js'
import type { SkillReferences } from './skills.js'

export interface ApiAppOptions {
  token?: string
  /** Largest accepted request body, bytes (default 256 KiB). */
  bodyLimitBytes?: number
  /** Deadline of one chat completion, ms (default 120 s). */
  requestTimeoutMs?: number
  /** Reference questions that name the agent card's skills; called when a card is built. */
  skillReferences?: () => SkillReferences | undefined
  /** Host, origin and content-type defences, and the URL the API gives of itself (default: listening on 127.0.0.1, no other origin allowed). */
  guard?: HttpGuard
  log?: Logger
}

export interface ApiApp {
  app: Hono
  feeds: FeedRegistry
  rejections: RejectionCounter<ApiErrorReason>
  /** Largest accepted request body, bytes. */
  bodyLimitBytes: number
  /** The refusal of a body over the limit, counted: for refusals made before hono sees the request (`Expect: 100-continue`). */
  refuseBody: () => ApiError
}

export const DEFAULT_BODY_LIMIT_BYTES = 256 * 1024
export const DEFAULT_REQUEST_TIMEOUT_MS = 120_000

/** Builds the node's HTTP application (not yet listening). */
export function createApiApp (service: NodeService, opts: ApiAppOptions = {}): ApiApp {
  const rejections = new RejectionCounter<ApiErrorReason>()
  const feeds = new FeedRegistry()
  const limit = opts.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES
  const guard = opts.guard ?? new HttpGuard()
  const app = new Hono()

  const reject = (c: Context, err: ApiError): Response => {
    rejections.count(err.reason)
    return c.json(err.toBody(), err.status)
  }

  app.onError((err, c) => {
    if (err instanceof ApiError) return reject(c, err)
    if (err instanceof ZodError) return reject(c, new ApiError('invalid_body', describeIssues(err), String(err.issues[0]?.path[0] ?? '') || null))
    if (err instanceof HTTPException && err.status < 500) return reject(c, new ApiError('invalid_body', err.message))
    opts.log?.error({ err, path: c.req.path }, 'api request failed')
    return reject(c, new ApiError('internal_error', `internal error: ${err.message}`))
  })
  app.notFound(c => reject(c, new ApiError('not_found', `no route ${c.req.method} ${c.req.path}`)))

  const tooLarge = (): ApiError => new ApiError('body_too_large', `the request body is larger than ${limit} bytes`)
  const refuseBody = (): ApiError => {
    const err = tooLarge()
    rejections.count(err.reason)
    return err
  }
  // Before anything else reads the request: a foreign Host or origin reaches no handler.
  for (const m of guard.middlewares()) app.use('*', m)
  app.use('*', limitBody(limit, c => {
    // The rest of the body is never read: close the connection so the client does not reuse a desynchronised socket.
    c.header('Connection', 'close')
    return reject(c, tooLarge())
  }))

  // Public: the dashboard shell holds no data, and the card is how others discover the node (it declares the auth scheme).
  app.get('/.well-known/agent-card.json', c => c.json(agentCardJson(buildAgentCard(service, {
    baseUrl: guard.baseUrl(c),
    bearer: opts.token != null,
    references: opts.skillReferences?.()
  }))))
  app.get('/:file{(index\\.html|style\\.css|app\\.js)?}', async c => {
    const asset = await dashboardAsset(c.req.path)
    if (asset == null) throw new ApiError('not_found', `no dashboard file ${c.req.path}`)
    return c.body(asset.body, 200, { 'content-type': asset.type, 'cache-control': 'no-cache' })
  })

  app.use('/v1/*', requireBearer(opts.token))
  app.use('/api/*', requireBearer(opts.token))
  app.use('/a2a/*', requireBearer(opts.token))
  app.use('*', guard.jsonOnly())
  const requestTimeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
  app.route('/v1', openAiRoutes(service, { requestTimeoutMs }))
  app.route('/api', nodeRoutes(service, { rejections, feeds }))
  // The request handler only reads the card's interfaces (versions) and capabilities; skills are read per served card.
  const protocolCard = buildAgentCard(service, { baseUrl: '', bearer: opts.token != null })
  app.route('/', a2aRoutes(service, { card: protocolCard, requestTimeoutMs, bearer: opts.token != null }))

  return { app, feeds, rejections, bodyLimitBytes: limit, refuseBody }
}
