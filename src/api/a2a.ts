/**
 * The node's A2A server (JSON-RPC binding, A2A 1.0 and the 0.3 method names),
 * built from the `@a2a-js/sdk` server pieces: its request handler, task store
 * and JSON-RPC transport handlers, mounted on hono instead of express. A
 * message is asked like a chat completion (model `ppai` unless the message's
 * metadata names another); the answer's pieces come as artifact updates while
 * the serving agent writes them, and the AskResult goes out as the task's
 * `ppai` metadata.
 */
import { A2A_PROTOCOL_VERSION, A2A_VERSION_HEADER, AgentCard as AgentCardJson, Extensions, HTTP_EXTENSION_HEADER, Role, TaskState, type AgentCard, type AgentInterface, type Message, type Part } from '@a2a-js/sdk'
import { A2A_LEGACY_PROTOCOL_VERSION, duplicateInterfacesForLegacy, LEGACY_HTTP_EXTENSION_HEADER } from '@a2a-js/sdk/compat/v0_3'
import { LegacyJsonRpcTransportHandler } from '@a2a-js/sdk/compat/v0_3/server'
import { AgentEvent, DefaultRequestHandler, defaultServerCallContextBuilder, InMemoryTaskStore, JsonRpcTransportHandler, UnauthenticatedUser, validateVersion, type AgentExecutor, type ExecutionEventBus, type RequestContext, type User } from '@a2a-js/sdk/server'
import { Hono } from 'hono'
import { streamSSE } from 'hono/streaming'
import type { NodeService } from '../net/service.js'
import { ApiError } from './errors.js'
import { askWithDeadline, resolveModel } from './openai-routes.js'

/** Where the JSON-RPC endpoint is mounted, relative to the API's base URL. */
export const A2A_JSONRPC_PATH = '/a2a/jsonrpc'

/** The card's A2A interfaces: JSON-RPC at the protocol version of the SDK, and the same URL for 0.3 clients. */
export function a2aInterfaces (baseUrl: string): AgentInterface[] {
  return duplicateInterfacesForLegacy([{ url: `${baseUrl}${A2A_JSONRPC_PATH}`, protocolBinding: 'JSONRPC', tenant: '', protocolVersion: A2A_PROTOCOL_VERSION }], ['JSONRPC'])
}

/** The card as sent on the wire: the SDK's protobuf JSON form, which its clients parse. */
export function agentCardJson (card: AgentCard): unknown {
  return AgentCardJson.toJSON(card)
}

function textPart (text: string): Part {
  return { content: { $case: 'text', value: text }, mediaType: 'text/plain', filename: '', metadata: undefined }
}

function agentMessage (taskId: string, contextId: string, text: string, metadata?: Record<string, unknown>): Message {
  return { messageId: crypto.randomUUID(), taskId, contextId, role: Role.ROLE_AGENT, parts: [textPart(text)], metadata, extensions: [], referenceTaskIds: [] }
}

/** The question is the text of the message's text parts. */
function messageText (message: Message): string {
  return message.parts.flatMap(p => p.content?.$case === 'text' ? [p.content.value] : []).join('\n')
}

/**
 * Asks the node for each message. A task goes submitted → working →
 * completed (answer as an artifact and as the status message) or failed;
 * `CancelTask` aborts the ask and ends the task canceled.
 */
export class NodeAgentExecutor implements AgentExecutor {
  private readonly running = new Map<string, { contextId: string, abort: AbortController }>()

  constructor (private readonly service: NodeService, private readonly requestTimeoutMs: number) {}

  execute = async (ctx: RequestContext, bus: ExecutionEventBus): Promise<void> => {
    const { taskId, contextId, userMessage } = ctx
    const abort = new AbortController()
    this.running.set(taskId, { contextId, abort })
    const status = (state: TaskState, message?: Message, metadata?: Record<string, unknown>): void => {
      bus.publish(AgentEvent.statusUpdate({ taskId, contextId, status: { state, message, timestamp: new Date().toISOString() }, metadata }))
    }
    try {
      bus.publish(AgentEvent.task(ctx.task ?? { id: taskId, contextId, status: { state: TaskState.TASK_STATE_SUBMITTED, message: undefined, timestamp: new Date().toISOString() }, artifacts: [], history: [userMessage], metadata: {} }))
      const question = messageText(userMessage)
      if (question.trim() === '') throw new ApiError('no_user_message', 'the message has no text part to ask')
      const requested: unknown = userMessage.metadata?.model ?? ctx.request.metadata?.model ?? 'ppai'
      if (typeof requested !== 'string') throw new ApiError('invalid_body', 'metadata.model must be a string', 'model')
      const model = resolveModel(this.service, requested)
      status(TaskState.TASK_STATE_WORKING)
      const answerId = crypto.randomUUID()
      const artifactId = `answer-${answerId}`
      // The answer's pieces as the serving agent writes them, appended to one artifact; the last update replaces it whole.
      let pieces = 0
      const onToken = (text: string): void => {
        if (abort.signal.aborted) return
        bus.publish(AgentEvent.artifactUpdate({ taskId, contextId, artifact: { artifactId, name: 'answer', description: '', parts: [textPart(text)], metadata: undefined, extensions: [] }, append: pieces++ > 0, lastChunk: false, metadata: undefined }))
      }
      const result = await askWithDeadline(this.service, question, model, this.requestTimeoutMs, abort.signal, { id: answerId, onToken })
      if (abort.signal.aborted) return
      // JSON round trip: the metadata is a protobuf Struct, which holds JSON values only.
      const ppai = JSON.parse(JSON.stringify(result)) as Record<string, unknown>
      bus.publish(AgentEvent.artifactUpdate({ taskId, contextId, artifact: { artifactId, name: 'answer', description: `answered by ${result.servedBy}`, parts: [textPart(result.answer)], metadata: { ppai }, extensions: [] }, append: false, lastChunk: true, metadata: undefined }))
      status(TaskState.TASK_STATE_COMPLETED, agentMessage(taskId, contextId, result.answer, { ppai }), { ppai })
    } catch (err) {
      // A canceled task was ended by cancelTask; the ask's abort error is its echo.
      if (abort.signal.aborted) return
      const reason = err instanceof ApiError ? err.reason : 'backend_failed'
      const text = err instanceof Error ? err.message : String(err)
      status(TaskState.TASK_STATE_FAILED, agentMessage(taskId, contextId, text), { ppai: { error: { code: reason, message: text } } })
    } finally {
      this.running.delete(taskId)
    }
  }

  cancelTask = async (taskId: string, bus: ExecutionEventBus): Promise<void> => {
    const run = this.running.get(taskId)
    if (run == null) return
    run.abort.abort()
    bus.publish(AgentEvent.statusUpdate({ taskId, contextId: run.contextId, status: { state: TaskState.TASK_STATE_CANCELED, message: agentMessage(taskId, run.contextId, 'canceled by the client'), timestamp: new Date().toISOString() }, metadata: undefined }))
  }
}

export interface A2aRoutesOptions {
  /** The card the request handler checks versions and capabilities against (the served card is built per request). */
  card: AgentCard
  /** Deadline of one ask, ms. */
  requestTimeoutMs: number
  /** True when the API requires a bearer token (the auth middleware has checked it before these routes). */
  bearer: boolean
}

const bearerUser: User = { isAuthenticated: true, userName: 'api-token' }

/** `POST /a2a/jsonrpc`: A2A JSON-RPC requests; `SendStreamingMessage`/`message/stream` answer as server-sent events. */
export function a2aRoutes (service: NodeService, opts: A2aRoutesOptions): Hono {
  const handler = new DefaultRequestHandler(opts.card, new InMemoryTaskStore(), new NodeAgentExecutor(service, opts.requestTimeoutMs))
  const current = new JsonRpcTransportHandler(handler)
  const legacy = new LegacyJsonRpcTransportHandler(handler)
  const app = new Hono()

  app.post(A2A_JSONRPC_PATH, async c => {
    // As the SDK's express handler: a request without A2A-Version speaks 0.3.
    const requestedVersion = c.req.header(A2A_VERSION_HEADER)
    const useLegacy = (requestedVersion ?? A2A_LEGACY_PROTOCOL_VERSION) === A2A_LEGACY_PROTOCOL_VERSION
    const mapError = useLegacy ? LegacyJsonRpcTransportHandler.mapToLegacyJSONRPCError : JsonRpcTransportHandler.mapToJSONRPCError
    const context = defaultServerCallContextBuilder({
      extensions: Extensions.parseServiceParameter(c.req.header(useLegacy ? LEGACY_HTTP_EXTENSION_HEADER : HTTP_EXTENSION_HEADER) ?? c.req.header(HTTP_EXTENSION_HEADER)),
      user: opts.bearer ? bearerUser : new UnauthenticatedUser(),
      headers: c.req.header(),
      requestedVersion
    })
    // The body goes to the SDK as text: malformed JSON becomes its JSON-RPC parse error, not an HTTP 400.
    const body = await c.req.text()
    let response: Awaited<ReturnType<JsonRpcTransportHandler['handle']>>
    try {
      validateVersion(context.requestedVersion, opts.card, 'JSONRPC')
      response = await (useLegacy ? legacy : current).handle(body, context)
    } catch (err) {
      return c.json({ jsonrpc: '2.0', id: null, error: mapError(err) })
    }
    if (!(Symbol.asyncIterator in response)) return c.json(response)

    // A failure before the first event is a plain JSON-RPC error; after it, an `error` event ends the stream.
    const events = response[Symbol.asyncIterator]()
    let first: IteratorResult<unknown>
    try {
      first = await events.next()
    } catch (err) {
      return c.json({ jsonrpc: '2.0', id: null, error: mapError(err) })
    }
    return streamSSE(c, async stream => {
      stream.onAbort(() => { void events.return(undefined) })
      try {
        for (let next = first; next.done !== true; next = await events.next()) await stream.writeSSE({ data: JSON.stringify(next.value) })
      } catch (err) {
        await stream.writeSSE({ event: 'error', data: JSON.stringify({ jsonrpc: '2.0', id: null, error: mapError(err) }) })
      }
    })
  })

  return app
}
