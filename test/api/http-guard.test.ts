/**
 * The API's defences against web pages (src/api/http-guard.ts), probed as an
 * attacker would: raw HTTP with forged Host, Origin and Sec-Fetch-Site
 * headers, then a real headless Chromium on a page served from another
 * 127.0.0.1 port, and on a page whose DNS name is rebound to 127.0.0.1.
 * Each probe checks that the node's handlers saw nothing: no question asked,
 * no decision logged, no feed opened.
 */
import { createServer, request, type Server } from 'node:http'
import { mkdtempSync, rmSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import OpenAI from 'openai'
import type { BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ApiConfigError, startApi, type RunningApi } from '../../src/api/server.js'
import { startApiNetwork, type ApiNetwork } from './support/network.js'
import { launchChromium } from './support/chromium.js'

interface RawResponse { status: number, headers: Record<string, string | string[] | undefined>, body: string }

/** One HTTP request with exactly the headers given (Host included), as curl sends them. */
async function raw (url: string, opts: { method?: string, headers?: Record<string, string>, body?: string } = {}): Promise<RawResponse> {
  return await new Promise((resolve, reject) => {
    const req = request(url, { method: opts.method ?? 'GET', headers: opts.headers, agent: false }, res => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { body += c })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
    })
    req.on('error', reject)
    req.end(opts.body)
  })
}

const CHAT = JSON.stringify({ model: 'ppai', messages: [{ role: 'user', content: 'Which planet is the largest?' }] })

function code (r: RawResponse): string | undefined {
  try {
    return (JSON.parse(r.body) as { error?: { code?: string } }).error?.code
  } catch {
    return undefined
  }
}

interface Seen { asked: number, decisions: number, feeds: number, rejected: Record<string, number> }

describe('HTTP defences of the API', () => {
  let net: ApiNetwork
  let api: RunningApi
  let port: string
  /** A page server on another 127.0.0.1 port: the attacker's origin. */
  let attacker: Server
  let attackerOrigin: string
  /** A second API of the same node that allows the attacker's origin (`--api-origins`). */
  let allowing: RunningApi
  let browser: BrowserContext
  let profileDir: string

  const seen = async (): Promise<Seen> => {
    const status = await (await fetch(`${api.url}/api/status`)).json() as { asked: { total: number }, api: { rejected: Record<string, number>, liveFeeds: number } }
    return { asked: status.asked.total, decisions: net.services[0].decisions(200).length, feeds: status.api.liveFeeds, rejected: status.api.rejected }
  }

  beforeAll(async () => {
    net = await startApiNetwork({ nodes: 1 })
    api = net.apis[0]
    port = new URL(api.url).port
    attacker = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
      res.end('<!doctype html><title>another site</title><iframe name="sink"></iframe>')
    })
    await new Promise<void>(resolve => attacker.listen(0, '127.0.0.1', resolve))
    attackerOrigin = `http://127.0.0.1:${(attacker.address() as AddressInfo).port}`
    allowing = await startApi(net.services[0], { port: 0, origins: [attackerOrigin] })
    profileDir = mkdtempSync(join(tmpdir(), 'ppai-guard-chromium-'))
    // rebind.test resolves to 127.0.0.1 in this browser: what a rebinding DNS server makes of an attacker's name.
    // Local Network Access checks off: a browser without them (older ones, others) is what the node must withstand on its own.
    browser = await launchChromium(profileDir, { width: 1000, height: 700 }, [
      '--host-resolver-rules=MAP rebind.test 127.0.0.1',
      '--disable-features=LocalNetworkAccessChecks,BlockInsecurePrivateNetworkRequests,PrivateNetworkAccessRespectPreflightResults'
    ])
  }, 60_000)

  afterAll(async () => {
    await browser?.close()
    await allowing?.close()
    await new Promise<void>(resolve => attacker == null ? resolve() : attacker.close(() => resolve()))
    await net?.close()
    if (profileDir != null) rmSync(profileDir, { recursive: true, force: true })
  })

  it('answers a foreign Host with 403 forbidden_host on every kind of route, and serves the loopback names', async () => {
    const before = await seen()
    const paths = ['/', '/app.js', '/.well-known/agent-card.json', '/api/status', '/api/decisions', '/api/peers', '/v1/models']
    for (const path of paths) {
      const r = await raw(`${api.url}${path}`, { headers: { host: `evil.example:${port}` } })
      expect(r.status, path).toBe(403)
      expect(code(r), path).toBe('forbidden_host')
    }
    const post = await raw(`${api.url}/v1/chat/completions`, { method: 'POST', headers: { host: 'evil.example', 'content-type': 'application/json' }, body: CHAT })
    expect(post.status).toBe(403)
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, `127.0.0.2:${port}`, `app.localhost:${port}`]) {
      expect((await raw(`${api.url}/api/status`, { headers: { host } })).status, host).toBe(200)
    }
    const after = await seen()
    expect(after.asked).toBe(before.asked)
    expect((after.rejected.forbidden_host ?? 0) - (before.rejected.forbidden_host ?? 0)).toBe(paths.length + 1)
  })

  it('refuses requests from another origin or site before any handler, counting each', async () => {
    const before = await seen()
    const evil = 'https://evil.example'
    const probes: Array<{ path: string, method?: string, headers: Record<string, string>, body?: string }> = [
      // The probe of the report: a simple (no preflight) POST of JSON sent as text/plain.
      { path: '/v1/chat/completions', method: 'POST', headers: { origin: evil, 'content-type': 'text/plain' }, body: CHAT },
      { path: '/v1/chat/completions', method: 'POST', headers: { origin: evil, 'content-type': 'application/json' }, body: CHAT },
      { path: '/api/feedback', method: 'POST', headers: { origin: evil, 'content-type': 'text/plain' }, body: JSON.stringify({ id: 'x', rating: 1 }) },
      { path: '/api/decisions', headers: { origin: evil } },
      { path: '/api/events', headers: { origin: evil, accept: 'text/event-stream' } },
      { path: '/api/decisions', headers: { origin: 'null' } },
      // No Origin, but the browser says where it comes from (e.g. <script src>, <img>).
      { path: '/api/decisions', headers: { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'no-cors', 'sec-fetch-dest': 'script' } },
      { path: '/api/status', headers: { 'sec-fetch-site': 'same-site', 'sec-fetch-mode': 'no-cors', 'sec-fetch-dest': 'image' } },
      // A frame of the dashboard on another site.
      { path: '/', headers: { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'iframe' } }
    ]
    for (const p of probes) {
      const r = await raw(`${api.url}${p.path}`, { method: p.method, headers: p.headers, body: p.body })
      expect(r.status, JSON.stringify(p)).toBe(403)
      expect(code(r)).toBe('forbidden_origin')
      expect(JSON.parse(r.body).error.message).toMatch(/--api-origins/)
    }
    const after = await seen()
    expect(after.asked).toBe(before.asked)
    expect(after.decisions).toBe(before.decisions)
    expect(after.feeds).toBe(0)
    expect((after.rejected.forbidden_origin ?? 0) - (before.rejected.forbidden_origin ?? 0)).toBe(probes.length)

    // The node's own origin, a user typing the URL, and a link followed to the dashboard are served.
    const own = await raw(`${api.url}/v1/chat/completions`, { method: 'POST', headers: { origin: api.url, 'sec-fetch-site': 'same-origin', 'content-type': 'application/json' }, body: CHAT })
    expect(own.status).toBe(200)
    expect((await raw(`${api.url}/`, { headers: { 'sec-fetch-site': 'none', 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document' } })).status).toBe(200)
    expect((await raw(`${api.url}/`, { headers: { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document' } })).status).toBe(200)
  })

  it('takes only application/json on endpoints that change something (415 otherwise), after the token check', async () => {
    const before = await seen()
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', undefined]) {
      const headers: Record<string, string> = type == null ? {} : { 'content-type': type }
      const chat = await raw(`${api.url}/v1/chat/completions`, { method: 'POST', headers, body: CHAT })
      expect(chat.status, type).toBe(415)
      expect(code(chat)).toBe('unsupported_media_type')
      const feedback = await raw(`${api.url}/api/feedback`, { method: 'POST', headers, body: JSON.stringify({ id: 'x', rating: 1 }) })
      expect(feedback.status, type).toBe(415)
    }
    const ok = await raw(`${api.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json; charset=utf-8' }, body: CHAT })
    expect(ok.status).toBe(200)
    const after = await seen()
    expect(after.asked).toBe(before.asked + 1)
    expect((after.rejected.unsupported_media_type ?? 0) - (before.rejected.unsupported_media_type ?? 0)).toBe(8)
  })

  it('forbids framing and inline code on every response, refusals included', async () => {
    for (const r of [await raw(`${api.url}/`), await raw(`${api.url}/api/status`, { headers: { host: 'evil.example' } })]) {
      const csp = String(r.headers['content-security-policy'])
      expect(csp).toContain("frame-ancestors 'none'")
      expect(csp).toContain("script-src 'self'")
      expect(csp).toContain("style-src 'self'")
      expect(r.headers['x-frame-options']).toBe('DENY')
      expect(r.headers['x-content-type-options']).toBe('nosniff')
    }
  })

  it('names the configured address in the agent card, whatever Host the client used', async () => {
    const card = await raw(`${api.url}/.well-known/agent-card.json`, { headers: { host: `localhost:${port}` } })
    expect(card.status).toBe(200)
    const body = JSON.parse(card.body) as { supportedInterfaces: Array<{ url: string }>, documentationUrl: string }
    expect(body.supportedInterfaces.length).toBeGreaterThan(0)
    for (const i of body.supportedInterfaces) expect(i.url.startsWith(`${api.url}/`), i.url).toBe(true)
    expect(card.body).not.toContain('localhost')
    expect(body.supportedInterfaces.map(i => i.url)).toEqual([`${api.url}/a2a/jsonrpc`, `${api.url}/a2a/jsonrpc`])
    expect(body.documentationUrl).toBe(`${api.url}/`)
  })

  it('serves an origin listed in --api-origins with CORS headers, and only that one', async () => {
    const preflight = await raw(`${allowing.url}/v1/chat/completions`, { method: 'OPTIONS', headers: { origin: attackerOrigin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,authorization' } })
    expect(preflight.status).toBe(204)
    expect(preflight.headers['access-control-allow-origin']).toBe(attackerOrigin)
    expect(String(preflight.headers['access-control-allow-headers'])).toContain('content-type')
    const post = await raw(`${allowing.url}/v1/chat/completions`, { method: 'POST', headers: { origin: attackerOrigin, 'content-type': 'application/json' }, body: CHAT })
    expect(post.status).toBe(200)
    expect(post.headers['access-control-allow-origin']).toBe(attackerOrigin)
    const other = await raw(`${allowing.url}/v1/models`, { headers: { origin: 'http://127.0.0.1:1' } })
    expect(other.status).toBe(403)
    // A list entry that is not an origin is refused when the API starts, naming it.
    const err = await startApi(net.services[0], { port: 0, origins: ['http://localhost:3000/app'] }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ApiConfigError)
    expect((err as ApiConfigError).reason).toBe('invalid_origin')
    expect((err as Error).message).toContain('http://localhost:3000')
  })

  it('keeps the project\'s own clients working: the OpenAI SDK, plain and streamed', async () => {
    const client = new OpenAI({ baseURL: `${api.url}/v1`, apiKey: 'unused', maxRetries: 0 })
    const plain = await client.chat.completions.create({ model: 'local', messages: [{ role: 'user', content: 'still served?' }] })
    expect(plain.choices[0].message.content).toContain('still served?')
    let streamed = ''
    for await (const chunk of await client.chat.completions.create({ model: 'local', stream: true, messages: [{ role: 'user', content: 'streamed too?' }] })) streamed += chunk.choices[0]?.delta.content ?? ''
    expect(streamed).toContain('streamed too?')
  })

  describe('in headless Chromium', () => {
    /** Runs fetch, a form post, EventSource and a frame against `target` from `page`; what the page could see of each. */
    const attack = async (page: Page, target: string): Promise<Record<string, string>> => await page.evaluate(async (target: string) => {
      const out: Record<string, string> = {}
      const body = JSON.stringify({ model: 'ppai', messages: [{ role: 'user', content: 'asked by another site' }] })
      const attempt = async (name: string, run: () => Promise<string>): Promise<void> => {
        try {
          out[name] = await run()
        } catch (err) {
          out[name] = `error: ${(err as Error).name}`
        }
      }
      await attempt('fetchTextPlain', async () => String((await fetch(`${target}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body })).status))
      await attempt('fetchNoCors', async () => (await fetch(`${target}/v1/chat/completions`, { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body })).type)
      await attempt('fetchJson', async () => String((await fetch(`${target}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })).status))
      await attempt('fetchDecisions', async () => String((await fetch(`${target}/api/decisions`)).status))
      await attempt('feedback', async () => String((await fetch(`${target}/api/feedback`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ id: 'x', rating: 1 }) })).status))
      await attempt('eventSource', async () => await new Promise<string>(resolve => {
        const es = new EventSource(`${target}/api/events`)
        es.addEventListener('hello', () => { es.close(); resolve('hello') })
        es.onerror = () => { es.close(); resolve('error') }
        setTimeout(() => { es.close(); resolve('timeout') }, 5000)
      }))
      // An HTML form (text/plain encoding makes its body JSON-looking), posted into a frame of this page.
      await attempt('form', async () => await new Promise<string>(resolve => {
        const sink = document.createElement('iframe')
        sink.name = 'form-sink'
        document.body.append(sink)
        const form = document.createElement('form')
        form.method = 'POST'
        form.enctype = 'text/plain'
        form.action = `${target}/v1/chat/completions`
        form.target = 'form-sink'
        const input = document.createElement('input')
        input.name = '{"model":"ppai","messages":[{"role":"user","content":"form post","x":"'
        input.value = '"}]}'
        form.append(input)
        document.body.append(form)
        sink.onload = () => resolve('loaded')
        setTimeout(() => resolve('timeout'), 5000)
        form.submit()
      }))
      await attempt('frame', async () => await new Promise<string>(resolve => {
        const frame = document.createElement('iframe')
        frame.src = `${target}/`
        frame.onload = () => {
          // Cross-origin: the page cannot look inside; whether the dashboard rendered is checked through playwright below.
          resolve('loaded')
        }
        document.body.append(frame)
        setTimeout(() => resolve('timeout'), 5000)
      }))
      return out
    }, target)

    it('a page on another 127.0.0.1 port reaches none of the handlers by fetch, form, EventSource or frame', async () => {
      const page = await browser.newPage()
      try {
        const before = await seen()
        await page.goto(attackerOrigin + '/')
        const out = await attack(page, api.url)
        // A CORS read of a refused request fails; a no-cors one is opaque or blocked (Cross-Origin-Resource-Policy); the feed never opens.
        expect(out.fetchTextPlain).toBe('error: TypeError')
        expect(['opaque', 'error: TypeError']).toContain(out.fetchNoCors)
        expect(out.fetchJson).toBe('error: TypeError')
        expect(out.fetchDecisions).toBe('error: TypeError')
        expect(out.feedback).toBe('error: TypeError')
        expect(out.eventSource).toBe('error')
        // The framed dashboard never ran: no frame of the node's origin has its page.
        const framed = page.frames().filter(f => f.url().startsWith(api.url))
        for (const f of framed) expect(await f.locator('#node-name').count()).toBe(0)
        const after = await seen()
        expect(after.asked).toBe(before.asked)
        expect(after.decisions).toBe(before.decisions)
        expect(after.feeds).toBe(0)
        // fetch ×2 (the JSON one stops at its preflight), no-cors, decisions, feedback, EventSource, form, frame.
        expect((after.rejected.forbidden_origin ?? 0) - (before.rejected.forbidden_origin ?? 0)).toBeGreaterThanOrEqual(8)
      } finally {
        await page.close()
      }
    })

    it('the same page may call an API that lists its origin in --api-origins, and the node\'s own origin may call its API', async () => {
      const page = await browser.newPage()
      try {
        await page.goto(attackerOrigin + '/')
        const allowed = await page.evaluate(async (target: string) => {
          const res = await fetch(`${target}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'local', messages: [{ role: 'user', content: 'from an allowed origin' }] }) })
          return { status: res.status, text: await res.text() }
        }, allowing.url)
        expect(allowed.status).toBe(200)
        expect(allowed.text).toContain('from an allowed origin')

        await page.goto(api.url + '/')
        const own = await attack(page, api.url)
        expect(own.fetchJson).toBe('200')
        expect(own.fetchDecisions).toBe('200')
        expect(own.eventSource).toBe('hello')
        // text/plain is refused on the node's own origin too: 415, readable there.
        expect(own.fetchTextPlain).toBe('415')
      } finally {
        await page.close()
      }
    })

    it('a page whose DNS name is rebound to 127.0.0.1 reads and asks nothing: its Host is refused', async () => {
      const page = await browser.newPage()
      try {
        const before = await seen()
        const origin = `http://rebind.test:${port}`
        // The first load is the attacker's own server (before the rebinding); later requests reach the node.
        await page.route(`${origin}/`, route => route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>rebinding</title>' }), { times: 1 })
        await page.goto(`${origin}/`)
        const out = await page.evaluate(async () => {
          const decisions = await fetch('/api/decisions')
          const ask = await fetch('/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'ppai', messages: [{ role: 'user', content: 'rebound' }] }) })
          const card = await fetch('/.well-known/agent-card.json')
          return { decisions: decisions.status, decisionsBody: await decisions.text(), ask: ask.status, card: card.status }
        })
        // Same-origin for the browser, so the page reads the status: the node's refusal.
        expect(out).toMatchObject({ decisions: 403, ask: 403, card: 403 })
        expect(out.decisionsBody).toContain('forbidden_host')
        const after = await seen()
        expect(after.asked).toBe(before.asked)
        expect((after.rejected.forbidden_host ?? 0) - (before.rejected.forbidden_host ?? 0)).toBe(3)
      } finally {
        await page.close()
      }
    })
  })
})
