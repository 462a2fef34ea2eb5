import { request } from 'node:http'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AgentBackend } from '../../src/agent/backend.js'
import { createInstantBackend } from '../../src/agent/instant.js'
import { startApiNetwork, type ApiNetwork } from './support/network.js'

interface ErrorBody { error: { message: string, type: string, code: string } }

async function post (url: string, body: string, headers: Record<string, string> = { 'content-type': 'application/json' }): Promise<{ status: number, body: ErrorBody }> {
  const res = await fetch(url, { method: 'POST', headers, body })
  return { status: res.status, body: await res.json() as ErrorBody }
}

/**
 * A POST that asks `Expect: 100-continue` and sends its body only once told to
 * continue, as curl does; what came back, and whether `100 Continue` did.
 */
function postExpectingContinue (url: string, body: string): Promise<{ status: number, continued: boolean, body: string }> {
  return new Promise((resolve, reject) => {
    let continued = false
    const req = request(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), expect: '100-continue' } })
    req.on('continue', () => {
      continued = true
      req.end(body)
    })
    req.on('response', res => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { text += c })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, continued, body: text }))
    })
    req.on('error', reject)
    req.flushHeaders()
  })
}

function expectOpenAiError (body: ErrorBody, code: string): void {
  expect(typeof body.error.message).toBe('string')
  expect(body.error.message.length).toBeGreaterThan(5)
  expect(typeof body.error.type).toBe('string')
  expect(body.error.code).toBe(code)
}

const failing: AgentBackend = {
  description: 'always fails',
  answer: async () => { throw new Error('model server unreachable') }
}

describe('bad input and failures', () => {
  let net: ApiNetwork
  let chat: string

  beforeAll(async () => {
    net = await startApiNetwork({ nodes: 1, backends: [createInstantBackend({ label: 'ok' })] })
    chat = `${net.apis[0].url}/v1/chat/completions`
  })
  afterAll(async () => { await net?.close() })

  it('rejects malformed JSON with a 400 error object', async () => {
    const r = await post(chat, '{"model": "local", "messages": [')
    expect(r.status).toBe(400)
    expectOpenAiError(r.body, 'invalid_json')
  })

  it('rejects an empty body', async () => {
    const r = await post(chat, '')
    expect(r.status).toBe(400)
    expectOpenAiError(r.body, 'invalid_json')
  })

  it('rejects wrong types and names the field', async () => {
    const r = await post(chat, JSON.stringify({ model: 'local', messages: 'hello' }))
    expect(r.status).toBe(400)
    expectOpenAiError(r.body, 'invalid_body')
    expect(r.body.error.message).toContain('messages')
    const r2 = await post(chat, JSON.stringify({ model: 42, messages: [{ role: 'user', content: 'hi' }] }))
    expect(r2.status).toBe(400)
    expect(r2.body.error.message).toContain('model')
  })

  it('rejects a conversation without a user message', async () => {
    const r = await post(chat, JSON.stringify({ model: 'local', messages: [{ role: 'system', content: 'you are helpful' }] }))
    expect(r.status).toBe(400)
    expectOpenAiError(r.body, 'no_user_message')
  })

  it('answers an unknown model or peer with 404 model_not_found', async () => {
    const r = await post(chat, JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }))
    expect(r.status).toBe(404)
    expectOpenAiError(r.body, 'model_not_found')
    const r2 = await post(chat, JSON.stringify({ model: 'peer:12D3KooWNoSuchPeer', messages: [{ role: 'user', content: 'hi' }] }))
    expect(r2.status).toBe(404)
    expectOpenAiError(r2.body, 'model_not_found')
  })

  it('surfaces errors to the official client as APIError with status and code', async () => {
    const client = new OpenAI({ baseURL: `${net.apis[0].url}/v1`, apiKey: 'unused', maxRetries: 0 })
    const err = await client.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(OpenAI.APIError)
    expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(404)
    expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe('model_not_found')
  })

  it('rejects a body over 256 KB with 413', async () => {
    const big = JSON.stringify({ model: 'local', messages: [{ role: 'user', content: 'x'.repeat(300 * 1024) }] })
    const r = await post(chat, big)
    expect(r.status).toBe(413)
    expectOpenAiError(r.body, 'body_too_large')
  })

  it('answers an oversized body sent with Expect: 100-continue with 413 at once, without 100 Continue', async () => {
    const big = JSON.stringify({ model: 'local', messages: [{ role: 'user', content: 'x'.repeat(300 * 1024) }] })
    const refused = await postExpectingContinue(chat, big)
    expect(refused.continued).toBe(false)
    expect(refused.status).toBe(413)
    expectOpenAiError(JSON.parse(refused.body) as ErrorBody, 'body_too_large')
    // A body within the limit is told to continue and answered as usual.
    const small = await postExpectingContinue(chat, JSON.stringify({ model: 'local', messages: [{ role: 'user', content: 'hello after continue' }] }))
    expect(small.continued).toBe(true)
    expect(small.status).toBe(200)
    expect(small.body).toContain('hello after continue')
  })

  it('rejects a feedback body with a wrong rating and an unknown answer id', async () => {
    const feedback = `${net.apis[0].url}/api/feedback`
    const r = await post(feedback, JSON.stringify({ id: 'x', rating: 'good' }))
    expect(r.status).toBe(400)
    expectOpenAiError(r.body, 'invalid_body')
    const r2 = await post(feedback, JSON.stringify({ id: 'no-such-answer', rating: 1 }))
    expect(r2.status).toBe(404)
    expectOpenAiError(r2.body, 'unknown_answer_id')
  })

  it('rejects a bad decisions limit', async () => {
    const res = await fetch(`${net.apis[0].url}/api/decisions?limit=-3`)
    expect(res.status).toBe(400)
    expectOpenAiError(await res.json() as ErrorBody, 'invalid_query')
  })

  it('keeps serving after bad requests, and counts each rejection by reason', async () => {
    const before = await (await fetch(`${net.apis[0].url}/api/status`)).json() as { api: { rejected: Record<string, number> } }
    await post(chat, 'not json')
    await post(chat, 'not json')
    const client = new OpenAI({ baseURL: `${net.apis[0].url}/v1`, apiKey: 'unused', maxRetries: 0 })
    const ok = await client.chat.completions.create({ model: 'local', messages: [{ role: 'user', content: 'still there?' }] })
    expect(ok.choices[0].message.content).toContain('still there?')
    const after = await (await fetch(`${net.apis[0].url}/api/status`)).json() as { api: { rejected: Record<string, number> } }
    expect(after.api.rejected.invalid_json).toBe((before.api.rejected.invalid_json ?? 0) + 2)
  })

  it('answers an unknown route with a 404 error object', async () => {
    const res = await fetch(`${net.apis[0].url}/v1/embeddings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
    expect(res.status).toBe(404)
    expectOpenAiError(await res.json() as ErrorBody, 'not_found')
  })
})

describe('backend failures', () => {
  it('turns a failing agent into a 5xx error object, plain and streaming, not a hang', async () => {
    const net = await startApiNetwork({ nodes: 1, backends: [failing] })
    try {
      const chat = `${net.apis[0].url}/v1/chat/completions`
      for (const stream of [false, true]) {
        const t0 = Date.now()
        const r = await post(chat, JSON.stringify({ model: 'local', stream, messages: [{ role: 'user', content: 'anything' }] }))
        expect(r.status).toBeGreaterThanOrEqual(500)
        expect(r.body.error.type).toBe('server_error')
        expect(Date.now() - t0).toBeLessThan(10_000)
      }
    } finally {
      await net.close()
    }
  })

  it('gives up on a slow agent at the request deadline with 504', async () => {
    const net = await startApiNetwork({ nodes: 1, backends: [createInstantBackend({ label: 'slow', delayMs: 5_000 })], api: { requestTimeoutMs: 300 } })
    try {
      const t0 = Date.now()
      const r = await post(`${net.apis[0].url}/v1/chat/completions`, JSON.stringify({ model: 'local', messages: [{ role: 'user', content: 'slow one' }] }))
      expect([502, 504]).toContain(r.status)
      expect(r.body.error.type).toBe('server_error')
      expect(Date.now() - t0).toBeLessThan(4_000)
    } finally {
      await net.close()
    }
  })
})
