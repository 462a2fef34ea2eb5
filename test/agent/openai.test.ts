import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { AgentAbortedError } from '../../src/agent/backend.js'
import { createBackend, type BackendOptions } from '../../src/agent/index.js'
import { createOpenAiBackend, OpenAiBackendError, redactUrl } from '../../src/agent/openai.js'
import OpenAI, { APIError } from 'openai'
import { createInstantBackend } from '../../src/agent/instant.js'
import { startApiNetwork } from '../api/support/network.js'
import { readThenGoAway } from '../support/abort-stream.js'
import { until } from '../support/until.js'

/** A real HTTP server on 127.0.0.1 whose behaviour each test picks by path. */
let server: Server
let base: string
const received: Array<{ path: string, auth?: string, body: unknown }> = []

/** Pieces of every streamed answer of the fake server. */
const STREAM_TOKENS = ['The', ' answer', ' is', ' B', '.']
const STREAM_EVERY_MS = 60

function sseChunk (delta: Record<string, unknown>, finish: string | null = null): string {
  return `data: ${JSON.stringify({ id: 'chatcmpl-x', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`
}

/** Paths of streamed answers whose connection closed before the server ended them (the asker went away). */
const cutShort: string[] = []

/** Streams STREAM_TOKENS (then ` w5`, ` w6`…) a piece every STREAM_EVERY_MS, then ends as `end` says: well, an error event, a cut connection or never. */
function streamAnswer (res: ServerResponse, end: 'done' | 'error-event' | 'cut' | 'hang', pieces = end === 'done' ? STREAM_TOKENS.length : 2, path = ''): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
  res.write(sseChunk({ role: 'assistant', content: '' }))
  let i = 0
  const timer = setInterval(() => {
    if (res.destroyed) { clearInterval(timer); return }
    if (i < pieces) { res.write(sseChunk({ content: STREAM_TOKENS[i] ?? ` w${i}` })); i++; return }
    clearInterval(timer)
    if (end === 'done') res.end(sseChunk({}, 'stop') + 'data: [DONE]\n\n')
    else if (end === 'error-event') res.end(`event: error\ndata: ${JSON.stringify({ error: { message: 'out of memory', type: 'server_error' } })}\n\n`)
    else if (end === 'cut') res.destroy()
  }, STREAM_EVERY_MS)
  res.on('close', () => {
    clearInterval(timer)
    if (!res.writableEnded) cutShort.push(path)
  })
}

function route (req: IncomingMessage, res: ServerResponse, raw: string): void {
  const path = req.url ?? ''
  received.push({ path, auth: req.headers.authorization, body: raw === '' ? undefined : JSON.parse(raw) })
  const streamed = raw !== '' && (JSON.parse(raw) as { stream?: boolean }).stream === true
  if (path === '/stream/v1/chat/completions' && streamed) {
    streamAnswer(res, 'done')
  } else if (path === '/stream/v1/chat/completions') {
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ id: 'x', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: STREAM_TOKENS.join('') } }] }))
  } else if (path === '/streamerror/v1/chat/completions') {
    streamAnswer(res, 'error-event')
  } else if (path === '/streamcut/v1/chat/completions') {
    streamAnswer(res, 'cut')
  } else if (path === '/streamlong/v1/chat/completions') {
    streamAnswer(res, 'done', 200, path)
  } else if (path === '/streamhang/v1/chat/completions') {
    streamAnswer(res, 'hang')
  } else if (path === '/ok/v1/chat/completions') {
    const body = JSON.parse(raw) as { messages: Array<{ content: string }> }
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ id: 'x', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: `echo: ${body.messages.at(-1)?.content}` } }] }))
  } else if (path === '/status500/v1/chat/completions') {
    res.statusCode = 500
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ error: { message: 'model not loaded', type: 'server_error' } }))
  } else if (path === '/notjson/v1/chat/completions') {
    res.end('<html>proxy error page</html>')
  } else if (path === '/nochoices/v1/chat/completions') {
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ choices: [] }))
  } else if (path === '/hang/v1/chat/completions') {
    // Never answers: the backend's timeout must fire.
    req.socket.setTimeout(10_000)
  } else {
    res.statusCode = 404
    res.end('not found')
  }
}

beforeAll(async () => {
  server = createServer((req, res) => {
    let raw = ''
    req.setEncoding('utf8')
    req.on('data', (chunk: string) => { raw += chunk })
    req.on('end', () => route(req, res, raw))
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

afterAll(async () => {
  server.closeAllConnections()
  await new Promise<void>(resolve => server.close(() => resolve()))
})

async function failureOf (promise: Promise<unknown>): Promise<OpenAiBackendError> {
  try {
    await promise
  } catch (err) {
    expect(err).toBeInstanceOf(OpenAiBackendError)
    return err as OpenAiBackendError
  }
  throw new Error('expected the call to fail')
}

describe('OpenAI-compatible backend', () => {
  it('posts the question to {base}/chat/completions and returns the first choice', async () => {
    const backend = createOpenAiBackend({ baseUrl: `${base}/ok/v1`, model: 'tiny-model', apiKey: 'sekret', systemPrompt: 'Answer with one letter.', maxTokens: 8 })
    const out = await backend.answer({ id: 'q1', question: 'What is 2+2?' })
    expect(out.text).toBe('echo: What is 2+2?')
    const req = received.find(r => r.path === '/ok/v1/chat/completions')
    expect(req?.auth).toBe('Bearer sekret')
    expect(req?.body).toMatchObject({ model: 'tiny-model', max_tokens: 8, stream: false, messages: [{ role: 'system' }, { role: 'user', content: 'What is 2+2?' }] })
    expect(backend.description).toContain('tiny-model')
  })

  it('accepts a base URL with a trailing slash', async () => {
    const backend = createOpenAiBackend({ baseUrl: `${base}/ok/v1/`, model: 'm' })
    expect((await backend.answer({ id: 'q', question: 'hi' })).text).toBe('echo: hi')
  })

  it('reports a non-2xx status with the URL, the status and the server message', async () => {
    const backend = createOpenAiBackend({ baseUrl: `${base}/status500/v1`, model: 'm' })
    const err = await failureOf(backend.answer({ id: 'q', question: 'hi' }))
    expect(err.reason).toBe('http-status')
    expect(err.status).toBe(500)
    expect(err.message).toContain(`${base}/status500/v1/chat/completions`)
    expect(err.message).toContain('500')
    expect(err.message).toContain('model not loaded')
  })

  it('reports a body that is not JSON as malformed', async () => {
    const backend = createOpenAiBackend({ baseUrl: `${base}/notjson/v1`, model: 'm' })
    const err = await failureOf(backend.answer({ id: 'q', question: 'hi' }))
    expect(err.reason).toBe('malformed-body')
    expect(err.status).toBe(200)
    expect(err.message).toContain(`${base}/notjson/v1/chat/completions`)
    expect(err.message).toContain('proxy error page')
  })

  it('reports JSON without an answer as malformed', async () => {
    const backend = createOpenAiBackend({ baseUrl: `${base}/nochoices/v1`, model: 'm' })
    const err = await failureOf(backend.answer({ id: 'q', question: 'hi' }))
    expect(err.reason).toBe('malformed-body')
    expect(err.message).toContain('choices[0].message.content')
  })

  it('times out a server that never answers', async () => {
    const backend = createOpenAiBackend({ baseUrl: `${base}/hang/v1`, model: 'm', timeoutMs: 300 })
    const started = performance.now()
    const err = await failureOf(backend.answer({ id: 'q', question: 'hi' }))
    const elapsed = performance.now() - started
    expect(err.reason).toBe('timeout')
    expect(err.message).toContain(`${base}/hang/v1/chat/completions`)
    expect(err.message).toContain('300 ms')
    expect(elapsed).toBeGreaterThanOrEqual(250)
    expect(elapsed).toBeLessThan(3_000)
  })

  it('stops when the caller aborts, and says so', async () => {
    const backend = createOpenAiBackend({ baseUrl: `${base}/hang/v1`, model: 'm', timeoutMs: 10_000 })
    const controller = new AbortController()
    setTimeout(() => controller.abort(), 100)
    await expect(backend.answer({ id: 'q', question: 'hi', signal: controller.signal })).rejects.toBeInstanceOf(AgentAbortedError)
  })

  it('reports a server that is not running as unreachable, naming the URL', async () => {
    // A port that was just free: bind, read the port, close.
    const probe = createServer()
    await new Promise<void>(resolve => probe.listen(0, '127.0.0.1', resolve))
    const port = (probe.address() as AddressInfo).port
    await new Promise<void>(resolve => probe.close(() => resolve()))
    const backend = createOpenAiBackend({ baseUrl: `http://127.0.0.1:${port}/v1`, model: 'm' })
    const err = await failureOf(backend.answer({ id: 'q', question: 'hi' }))
    expect(err.reason).toBe('unreachable')
    expect(err.status).toBeUndefined()
    expect(err.message).toContain(`http://127.0.0.1:${port}/v1/chat/completions`)
    expect(err.message).toContain('ECONNREFUSED')
  })

  it('takes credentials written in the backend URL as HTTP Basic and shows them nowhere: description, errors, log, status, agent card', async () => {
    const secret = 'pw-n0t-for-3yes'
    const withCredentials = (path: string): string => base.replace('http://', `http://alice:${secret}@`) + path
    const backend = createOpenAiBackend({ baseUrl: withCredentials('/ok/v1'), model: 'm' })
    const answer = await backend.answer({ id: 'q', question: 'behind basic auth' })
    expect(answer.text).toBe('echo: behind basic auth')
    expect(received.at(-1)?.auth).toBe(`Basic ${Buffer.from(`alice:${secret}`).toString('base64')}`)
    expect(backend.description).toBe(`openai-compatible m at ${base}/ok/v1`)
    const err = await failureOf(createOpenAiBackend({ baseUrl: withCredentials('/status500/v1'), model: 'm' }).answer({ id: 'q', question: 'hi' }))
    expect(`${err.message} ${err.url}`).not.toContain(secret)
    expect(redactUrl(withCredentials('/v1'))).toBe(`${base.replace('http://', 'http://***@')}/v1`)

    let logged = ''
    const log = pino({ level: 'info' }, new Writable({ write (chunk: Buffer, _enc, done) { logged += chunk.toString(); done() } }))
    const created = createBackend({ name: 'n', backend: 'openai', backendUrl: withCredentials('/ok/v1'), backendModel: 'm' } as unknown as BackendOptions, log)
    expect(logged).toContain('agent backend ready')
    expect(logged).not.toContain(secret)

    const net = await startApiNetwork({ nodes: 1, backends: [created.backend] })
    try {
      const status = await (await fetch(`${net.apis[0].url}/api/status`)).text()
      const card = await (await fetch(`${net.apis[0].url}/.well-known/agent-card.json`)).text()
      expect(status).toContain(`${base}/ok/v1`)
      for (const text of [status, card]) expect(text).not.toContain(secret)
    } finally {
      await net.close()
    }
  })
})

describe('OpenAI-compatible backend, streamed (stream: true through the openai SDK)', () => {
  /** Answers with a token callback; the pieces and when each came (ms after the call). */
  async function streamed (baseUrl: string, opts: { timeoutMs?: number, apiKey?: string, signal?: AbortSignal } = {}): Promise<{ text: string, pieces: Array<{ text: string, at: number }>, totalMs: number }> {
    const backend = createOpenAiBackend({ baseUrl, model: 'tiny-model', timeoutMs: opts.timeoutMs, apiKey: opts.apiKey })
    const pieces: Array<{ text: string, at: number }> = []
    const t0 = performance.now()
    const out = await backend.answer({ id: 'q', question: 'Which option?', signal: opts.signal, onToken: text => pieces.push({ text, at: performance.now() - t0 }) })
    return { text: out.text, pieces, totalMs: performance.now() - t0 }
  }

  it('asks with stream: true and hands on each delta as it comes', async () => {
    const r = await streamed(`${base}/stream/v1`, { apiKey: 'sekret' })
    expect(r.text).toBe(STREAM_TOKENS.join(''))
    expect(r.pieces.map(p => p.text)).toEqual(STREAM_TOKENS)
    // Five pieces 60 ms apart: the first well before the last.
    expect(r.pieces[0].at).toBeLessThan(r.totalMs - 3 * STREAM_EVERY_MS)
    const req = received.filter(x => x.path === '/stream/v1/chat/completions').at(-1)
    expect(req?.body).toMatchObject({ model: 'tiny-model', stream: true, messages: [{ role: 'user', content: 'Which option?' }] })
    expect(req?.auth).toBe('Bearer sekret')
  })

  it('sends no authorization without a key, and HTTP Basic from credentials in the URL', async () => {
    await streamed(`${base}/stream/v1`)
    expect(received.at(-1)?.auth).toBeUndefined()
    await streamed(base.replace('http://', 'http://alice:pw@') + '/stream/v1')
    expect(received.at(-1)?.auth).toBe(`Basic ${Buffer.from('alice:pw').toString('base64')}`)
  })

  it('fails with stream-failed when the server sends an error event or cuts the connection mid-answer', async () => {
    for (const path of ['streamerror', 'streamcut']) {
      const pieces: string[] = []
      const backend = createOpenAiBackend({ baseUrl: `${base}/${path}/v1`, model: 'm', timeoutMs: 5000 })
      const err = await failureOf(backend.answer({ id: 'q', question: 'hi', onToken: t => pieces.push(t) }))
      expect(err.reason).toBe('stream-failed')
      expect(err.message).toContain(`${base}/${path}/v1/chat/completions`)
      if (path === 'streamerror') expect(err.message).toContain('out of memory')
      expect(pieces).toEqual(STREAM_TOKENS.slice(0, 2))
    }
  })

  it('reports a non-2xx status before the stream as http-status, and a stream that stalls as a timeout', async () => {
    const status = await failureOf(createOpenAiBackend({ baseUrl: `${base}/status500/v1`, model: 'm' }).answer({ id: 'q', question: 'hi', onToken: () => {} }))
    expect(status.reason).toBe('http-status')
    expect(status.status).toBe(500)
    expect(status.message).toContain('model not loaded')
    const started = performance.now()
    const stalled = await failureOf(createOpenAiBackend({ baseUrl: `${base}/streamhang/v1`, model: 'm', timeoutMs: 500 }).answer({ id: 'q', question: 'hi', onToken: () => {} }))
    expect(stalled.reason).toBe('timeout')
    expect(stalled.message).toContain('500 ms')
    expect(performance.now() - started).toBeLessThan(3000)
  })

  it('stops when the caller aborts mid-stream, and says so', async () => {
    const controller = new AbortController()
    const backend = createOpenAiBackend({ baseUrl: `${base}/streamhang/v1`, model: 'm', timeoutMs: 10_000 })
    await expect(backend.answer({ id: 'q', question: 'hi', signal: controller.signal, onToken: () => controller.abort() })).rejects.toBeInstanceOf(AgentAbortedError)
  })
})

describe('a node whose agent is an OpenAI-compatible model server, asked by a peer\'s OpenAI SDK client with stream: true', () => {
  let net: Awaited<ReturnType<typeof startApiNetwork>>
  let client: OpenAI
  const peer = (i: number): string => `peer:${net.services[i].peerId}`

  beforeAll(async () => {
    const backend = (path: string): ReturnType<typeof createOpenAiBackend> => createOpenAiBackend({ baseUrl: `${base}/${path}/v1`, model: 'm', timeoutMs: 20_000 })
    net = await startApiNetwork({ nodes: 4, backends: [createInstantBackend({ label: 'node-0' }), backend('stream'), backend('streamerror'), backend('streamlong')], waitForProfiles: false })
    client = new OpenAI({ baseURL: `${net.apis[0].url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 20_000 })
  })
  afterAll(async () => { await net?.close() })

  it('hands on the model server\'s tokens as they come: the first well before the last', async () => {
    const t0 = performance.now()
    const stream = await client.chat.completions.create({ model: peer(1), stream: true, messages: [{ role: 'user', content: 'Which option?' }] })
    const pieces: Array<{ text: string, at: number }> = []
    let servedBy = ''
    for await (const chunk of stream) {
      const text = chunk.choices[0]?.delta?.content ?? ''
      if (text !== '') pieces.push({ text, at: performance.now() - t0 })
      servedBy = (chunk as unknown as { ppai?: { servedBy: string } }).ppai?.servedBy ?? servedBy
    }
    const totalMs = performance.now() - t0
    expect(servedBy).toBe(net.services[1].peerId)
    expect(pieces.map(p => p.text).join('')).toBe(STREAM_TOKENS.join(''))
    expect(pieces.length).toBeGreaterThanOrEqual(3)
    // Five pieces 60 ms apart at the model server: the first reaches the client at least two gaps before the last.
    expect(pieces[0].at).toBeLessThan((pieces.at(-1)?.at ?? 0) - 2 * STREAM_EVERY_MS)
    expect(pieces[0].at).toBeLessThan(totalMs - 2 * STREAM_EVERY_MS)
    expect(received.filter(x => x.path === '/stream/v1/chat/completions').at(-1)?.body).toMatchObject({ stream: true })
  })

  it('ends the client\'s stream with an error the SDK raises when the model server fails mid-answer, never a hang', async () => {
    const started = performance.now()
    const stream = await client.chat.completions.create({ model: peer(2), stream: true, messages: [{ role: 'user', content: 'Which option?' }] })
    const pieces: string[] = []
    const err = await (async () => {
      for await (const chunk of stream) pieces.push(chunk.choices[0]?.delta?.content ?? '')
    })().then(() => undefined, (e: unknown) => e)
    expect(err).toBeInstanceOf(APIError)
    expect((err as APIError).message).toMatch(/broke off its streamed answer/)
    expect((err as APIError).message).toContain('out of memory')
    expect(pieces.join('')).toBe(STREAM_TOKENS.slice(0, 2).join(''))
    expect(performance.now() - started).toBeLessThan(5000)
  })

  it('cancels the peer\'s call to its model server when the client goes away mid-stream', async () => {
    const pieces = await readThenGoAway(client, peer(3), 3)
    expect(pieces).toBe(3)
    // 200 pieces 60 ms apart would take 12 s: the model server sees its connection closed long before.
    await until(() => cutShort.includes('/streamlong/v1/chat/completions'), 5000, 'the peer to close its call to the model server')
    expect(received.filter(x => x.path === '/streamlong/v1/chat/completions').at(-1)?.body).toMatchObject({ stream: true })
  })
})
