import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createInstantBackend } from '../../src/agent/instant.js'
import { isLoopbackHost } from '../../src/api/auth.js'
import { ApiConfigError, startApi } from '../../src/api/server.js'
import { startApiNetwork, type ApiNetwork } from './support/network.js'

describe('bearer token', () => {
  let net: ApiNetwork
  beforeAll(async () => { net = await startApiNetwork({ nodes: 1, backends: [createInstantBackend()], api: { token: 's3cret-token' } }) })
  afterAll(async () => { await net?.close() })

  it('answers 401 without a token or with a wrong one', async () => {
    for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: 's3cret-token' }] as Array<Record<string, string>>) {
      const res = await fetch(`${net.apis[0].url}/api/status`, { headers })
      expect(res.status).toBe(401)
      const body = await res.json() as { error: { code: string, type: string } }
      expect(body.error.code).toBe('unauthorized')
      expect(body.error.type).toBe('authentication_error')
    }
    const client = new OpenAI({ baseURL: `${net.apis[0].url}/v1`, apiKey: 'wrong', maxRetries: 0 })
    await expect(client.models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError)
  })

  it('serves the right token', async () => {
    const client = new OpenAI({ baseURL: `${net.apis[0].url}/v1`, apiKey: 's3cret-token', maxRetries: 0 })
    const completion = await client.chat.completions.create({ model: 'local', messages: [{ role: 'user', content: 'with token' }] })
    expect(completion.choices[0].message.content).toContain('with token')
  })

  it('declares the bearer scheme in the agent card, which stays public', async () => {
    const res = await fetch(`${net.apis[0].url}/.well-known/agent-card.json`)
    expect(res.status).toBe(200)
    const card = await res.json() as { securitySchemes: Record<string, unknown>, securityRequirements: unknown[] }
    expect(Object.keys(card.securitySchemes)).toEqual(['bearer'])
    expect(card.securityRequirements.length).toBe(1)
  })
})

describe('listening address', () => {
  let net: ApiNetwork
  beforeAll(async () => { net = await startApiNetwork({ nodes: 1 }) })
  afterAll(async () => { await net?.close() })

  it('refuses a non-loopback host without a token', async () => {
    const [service] = net.services
    for (const host of ['0.0.0.0', '::', '192.168.1.10']) {
      const err = await startApi(service, { host, port: 0 }).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(ApiConfigError)
      expect((err as ApiConfigError).reason).toBe('non_loopback_without_token')
    }
  })

  it('serves a non-loopback host when a token is set', async () => {
    const [service] = net.services
    const api = await startApi(service, { host: '0.0.0.0', port: 0, token: 'tok' })
    try {
      const port = new URL(api.url).port
      const res = await fetch(`http://127.0.0.1:${port}/api/status`, { headers: { authorization: 'Bearer tok' } })
      expect(res.status).toBe(200)
    } finally {
      await api.close()
    }
  })

  it('tells loopback addresses from others', () => {
    expect(['127.0.0.1', '127.8.0.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1'].map(isLoopbackHost)).toEqual([true, true, true, true, true, true])
    expect(['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', 'example.com'].map(isLoopbackHost)).toEqual([false, false, false, false, false])
  })
})
