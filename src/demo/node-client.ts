/**
 * The demo driver's client of one node's HTTP API: ask (OpenAI-compatible
 * chat completion), feedback, status, peers. Every failure is a
 * {@link NodeApiError} naming the URL and, when there is one, the status.
 */
import type { z } from 'zod'
import { apiErrorSchema, chatCompletionSchema, peersSchema, statusSchema, type DemoAskResult, type DemoStatus } from './api-wire.js'

export type NodeApiFailure = 'unreachable' | 'http-status' | 'malformed-body' | 'timeout'

export class NodeApiError extends Error {
  override name = 'NodeApiError'
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
  constructor (readonly baseUrl: string, private readonly token?: string) {}

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
    if (body !== undefined) headers['content-type'] = 'application/json'
    if (this.token != null) headers.authorization = `Bearer ${this.token}`
    const signal = AbortSignal.timeout(timeoutMs)
    let res: Response
    let text: string
    try {
      res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal })
      text = await res.text()
    } catch (err) {
      if (signal.aborted) throw new NodeApiError('timeout', url, `${method} ${url}: no answer within ${timeoutMs} ms`)
      const cause = (err as { cause?: { code?: string } }).cause
      throw new NodeApiError('unreachable', url, `${method} ${url}: unreachable (${cause?.code ?? String(err)})`)
    }
    let json: unknown
    try {
      json = text === '' ? undefined : JSON.parse(text)
    } catch {
      throw new NodeApiError('malformed-body', url, `${method} ${url}: HTTP ${res.status}, body is not JSON`, res.status)
    }
    if (!res.ok) {
      const e = apiErrorSchema.safeParse(json)
      throw new NodeApiError('http-status', url, `${method} ${url}: HTTP ${res.status}${e.success ? `: ${e.data.error.message}` : ''}`, res.status)
    }
    if (schema == null) return json as z.output<S>
    const parsed = schema.safeParse(json)
    if (!parsed.success) throw new NodeApiError('malformed-body', url, `${method} ${url}: HTTP ${res.status}, unexpected body: ${parsed.error.issues.map(i => `${i.path.join('.')}: ${i.message}`).join('; ')}`, res.status)
    return parsed.data
  }
}
