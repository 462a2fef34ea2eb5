/**
 * The demo driver's client of one node's HTTP API: ask (OpenAI-compatible
 * chat completion), feedback, status, peers. Every failure is a
 * {@link NodeApiError} naming the URL and, when there is one, the status.
 */
import { Agent, request as httpRequest } from 'node:http'
import type { z } from 'zod'
import { NamedError } from '../core/errors.js'
import { apiErrorSchema, chatCompletionSchema, peersSchema, statusSchema, type DemoAskResult, type DemoStatus } from './api-wire.js'

export type NodeApiFailure = 'unreachable' | 'http-status' | 'malformed-body' | 'timeout'

export class NodeApiError extends NamedError {
  constructor (readonly reason: NodeApiFailure, readonly url: string, message: string, readonly status?: number) {
    super(message)
  }
}

/** An answer from a node: its text and the node's account of how it was served. */
export interface NodeAnswer {
  text: string
  ppai: DemoAskResult
}

export class NodeClient {
  constructor (readonly baseUrl: string, readonly token?: string) {}

  /** Asks the node (model `ppai` routes through the network, `local` forces its own agent). */
  async ask (question: string, model = 'ppai', timeoutMs = 30_000): Promise<NodeAnswer> {
    const body = { model, messages: [{ role: 'user', content: question }] }
    const json = await this.call('POST', '/v1/chat/completions', body, timeoutMs, chatCompletionSchema)
    return { text: json.choices[0].message.content ?? '', ppai: json.ppai }
  }

  /** Rates an answer: 1 right, 0 wrong. */
  async feedback (id: string, rating: number, timeoutMs = 10_000): Promise<void> {
    await this.call('POST', '/api/feedback', { id, rating }, timeoutMs)
  }

  async status (timeoutMs = 5_000): Promise<DemoStatus> {
    return await this.call('GET', '/api/status', undefined, timeoutMs, statusSchema)
  }

  async peers (timeoutMs = 5_000): Promise<z.output<typeof peersSchema>> {
    return await this.call('GET', '/api/peers', undefined, timeoutMs, peersSchema)
  }

  private async call<S extends z.ZodType> (method: string, path: string, body: unknown, timeoutMs: number, schema?: S): Promise<z.output<S>> {
    const url = this.baseUrl.replace(/\/$/, '') + path
    const headers: Record<string, string> = { accept: 'application/json' }
    const payload = body === undefined ? undefined : JSON.stringify(body)
    if (payload !== undefined) {
      headers['content-type'] = 'application/json'
      headers['content-length'] = String(Buffer.byteLength(payload))
    }
    if (this.token != null) headers.authorization = `Bearer ${this.token}`
    const { status, text } = await request(url, method, headers, payload, timeoutMs)
    let json: unknown
    try {
      json = text === '' ? undefined : JSON.parse(text)
    } catch {
      throw new NodeApiError('malformed-body', url, `${method} ${url}: HTTP ${status}, body is not JSON`, status)
    }
    if (status < 200 || status > 299) {
      const e = apiErrorSchema.safeParse(json)
      throw new NodeApiError('http-status', url, `${method} ${url}: HTTP ${status}${e.success ? `: ${e.data.error.message}` : ''}`, status)
    }
    if (schema == null) return json as z.output<S>
    const parsed = schema.safeParse(json)
    if (!parsed.success) throw new NodeApiError('malformed-body', url, `${method} ${url}: HTTP ${status}, unexpected body: ${parsed.error.issues.map(i => `${i.path.join('.')}: ${i.message}`).join('; ')}`, status)
    return parsed.data
  }
}

/**
 * Kept-alive connections to the nodes, shared by every client of the process:
 * a new TCP connection per query costs the node more CPU than the query (the
 * throughput bench runs hundreds a second). An idle socket is closed by us
 * after {@link IDLE_SOCKET_MS}, before the node's server would close it
 * (Node's default keep-alive timeout, 5 s), so a request is not sent on a
 * socket that is being closed.
 */
const IDLE_SOCKET_MS = 4_000
const agent = new Agent({ keepAlive: true, timeout: IDLE_SOCKET_MS, maxSockets: 256 })

/** One HTTP request on the shared agent; every failure is a {@link NodeApiError}. */
async function request (url: string, method: string, headers: Record<string, string>, payload: string | undefined, timeoutMs: number): Promise<{ status: number, text: string }> {
  const u = new URL(url)
  return await new Promise((resolve, reject) => {
    let timedOut = false
    const fail = (err: Error): void => {
      clearTimeout(timer)
      reject(timedOut ? new NodeApiError('timeout', url, `${method} ${url}: no answer within ${timeoutMs} ms`) : new NodeApiError('unreachable', url, `${method} ${url}: unreachable (${(err as NodeJS.ErrnoException).code ?? err.message})`))
    }
    const req = httpRequest({ hostname: u.hostname, port: u.port, path: u.pathname + u.search, method, headers, agent }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        clearTimeout(timer)
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') })
      })
      res.on('error', fail)
    })
    const timer = setTimeout(() => {
      timedOut = true
      req.destroy(new Error('timeout'))
    }, timeoutMs)
    req.on('error', fail)
    req.end(payload)
  })
}
