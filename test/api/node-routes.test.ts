import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DecisionRecord, NodeStatus, PeerSummary } from '../../src/net/service.js'
import { startApi } from '../../src/api/server.js'
import { startApiNetwork, type ApiNetwork } from './support/network.js'

/** Reads server-sent events from a real HTTP response until `want` of them arrived or the time is up. */
async function readEvents (res: Response, want: (events: Array<{ event: string, data: string }>) => boolean, timeoutMs: number): Promise<Array<{ event: string, data: string }>> {
  const events: Array<{ event: string, data: string }> = []
  const reader = res.body!.getReader()
  const decoder = new TextDecoder()
  let buf = ''
  const deadline = Date.now() + timeoutMs
  while (!want(events) && Date.now() < deadline) {
    const next = await Promise.race([reader.read(), new Promise<null>(resolve => setTimeout(() => resolve(null), deadline - Date.now()))])
    if (next == null || next.done) break
    buf += decoder.decode(next.value, { stream: true })
    let i
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i)
      buf = buf.slice(i + 2)
      const event = /^event: (.*)$/m.exec(block)?.[1] ?? 'message'
      const data = [...block.matchAll(/^data: (.*)$/gm)].map(m => m[1]).join('\n')
      if (data !== '') events.push({ event, data })
    }
  }
  await reader.cancel()
  return events
}

describe('node status API', () => {
  let net: ApiNetwork
  let base: string
  let client: OpenAI

  beforeAll(async () => {
    net = await startApiNetwork({ nodes: 2 })
    base = net.apis[0].url
    client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'unused', maxRetries: 0 })
  })
  afterAll(async () => { await net?.close() })

  it('reports the node status', async () => {
    const status = await (await fetch(`${base}/api/status`)).json() as NodeStatus
    expect(status.peerId).toBe(net.services[0].peerId)
    expect(status.name).toBe(net.services[0].name)
    expect(status.embedderId).toMatch(/^hash-ngram-v1-d\d+$/)
    expect(status.uptimeMs).toBeGreaterThanOrEqual(0)
  })

  it('lists the peers the node knows', async () => {
    const { peers } = await (await fetch(`${base}/api/peers`)).json() as { peers: PeerSummary[] }
    expect(peers.map(p => p.peerId).sort()).toEqual(net.services[0].peers().map(p => p.peerId).sort())
    expect(peers.map(p => p.peerId)).toContain(net.services[1].peerId)
  })

  it('logs the routing decision of a query, newest first, with its outcome', async () => {
    const question = 'Which court hears an appeal of a federal district court verdict?'
    const completion = await client.chat.completions.create({ model: 'ppai', messages: [{ role: 'user', content: question }] })
    const id = (completion as unknown as { ppai: { id: string } }).ppai.id
    const { decisions } = await (await fetch(`${base}/api/decisions?limit=5`)).json() as { decisions: DecisionRecord[] }
    expect(decisions.length).toBeGreaterThan(0)
    expect(decisions.length).toBeLessThanOrEqual(5)
    const mine = decisions.find(d => d.question === question)
    expect(mine).toBeDefined()
    expect(mine?.outcome?.status).toBe('ok')
    expect(id).toBeTruthy()
  })

  it('honours the decisions limit', async () => {
    for (let i = 0; i < 3; i++) await client.chat.completions.create({ model: 'ppai', messages: [{ role: 'user', content: `question number ${i} about orbits` }] })
    const { decisions } = await (await fetch(`${base}/api/decisions?limit=2`)).json() as { decisions: DecisionRecord[] }
    expect(decisions.length).toBe(2)
  })

  it('takes feedback on an answer it gave', async () => {
    const completion = await client.chat.completions.create({ model: 'local', messages: [{ role: 'user', content: 'What is the capital of Australia?' }] })
    const id = (completion as unknown as { ppai: { id: string } }).ppai.id
    const res = await fetch(`${base}/api/feedback`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id, rating: 1 }) })
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ ok: true, id, rating: 1 })
  })

  it('counts feedback on an answer from a peer in what this node observed of that peer', async () => {
    const target = net.services[1].peerId
    const observed = async (): Promise<PeerSummary | undefined> =>
      ((await (await fetch(`${base}/api/peers`)).json()) as { peers: PeerSummary[] }).peers.find(p => p.peerId === target)
    const before = (await observed())?.observedCount ?? 0
    const completion = await client.chat.completions.create({ model: `peer:${target}`, messages: [{ role: 'user', content: 'Which gas makes up most of the atmosphere?' }] })
    const ppai = (completion as unknown as { ppai: { id: string, servedBy: string } }).ppai
    expect(ppai.servedBy).toBe(target)
    const res = await fetch(`${base}/api/feedback`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: ppai.id, rating: 0 }) })
    expect(res.status).toBe(200)
    const after = await observed()
    expect(after?.observedCount).toBe(before + 1)
    expect(after?.observedSuccess).toBeLessThan(1)
  })

  it('relays a decision on the live event feed', async () => {
    const res = await fetch(`${base}/api/events`)
    expect(res.headers.get('content-type')).toContain('text/event-stream')
    const question = 'Relay me: what is the boiling point of water at sea level?'
    const asked = new Promise<void>(resolve => setTimeout(() => {
      void client.chat.completions.create({ model: 'ppai', messages: [{ role: 'user', content: question }] }).then(() => resolve())
    }, 100))
    const events = await readEvents(res, evs => evs.some(e => e.event === 'decision' && e.data.includes('boiling point')), 15_000)
    await asked
    expect(events[0].event).toBe('hello')
    const decision = events.find(e => e.event === 'decision' && e.data.includes('boiling point'))
    expect(decision).toBeDefined()
    expect((JSON.parse(decision!.data) as DecisionRecord).question).toBe(question)
  })

  it('shuts down promptly while a live feed is open', async () => {
    const extra = await startApi(net.services[0], { port: 0 })
    const res = await fetch(`${extra.url}/api/events`)
    const reader = res.body!.getReader()
    const first = await reader.read()
    expect(new TextDecoder().decode(first.value)).toContain('event: hello')
    const t0 = Date.now()
    await extra.close()
    expect(Date.now() - t0).toBeLessThan(3_000)
    // The client sees its stream end instead of waiting forever.
    const next = await Promise.race([reader.read().then(r => r.done, () => true), new Promise(resolve => setTimeout(() => resolve('open'), 3_000))])
    expect(next).toBe(true)
  })

  it('serves the prototype map with own points from the profile', async () => {
    const map = await (await fetch(`${base}/api/map`)).json() as { projection: string, own: Array<{ x: number, y: number, count: number, quality: number }>, peers: unknown[] }
    expect(map.own.length).toBe(net.services[0].profile().prototypes.length)
    for (const p of map.own) {
      expect(Number.isFinite(p.x) && Number.isFinite(p.y)).toBe(true)
      expect(p.quality).toBeGreaterThanOrEqual(0)
      expect(p.quality).toBeLessThanOrEqual(1)
    }
    expect(map.peers.length).toBe(net.services[0].peers().length)
  })

  it('draws own prototypes where peers draw them, on one map', async () => {
    type MapBody = { own: Array<{ x: number, y: number }>, peers: Array<{ peerId: string, points: Array<{ x: number, y: number }> }> }
    // Compare one version of the profile: publish the current one and wait until the peer holds it.
    const [owner, viewer] = net.services
    await owner.publishProfile()
    await expect.poll(() => viewer.peers().find(p => p.peerId === owner.peerId)?.profileVersion, { timeout: 10_000 }).toBe(owner.profile().version)
    const mine = await (await fetch(`${base}/api/map`)).json() as MapBody
    const theirs = await (await fetch(`${net.apis[1].url}/api/map`)).json() as MapBody
    const seen = theirs.peers.find(p => p.peerId === net.services[0].peerId)
    expect(seen?.points.length).toBe(mine.own.length)
    // The peer sees the published (quantised) centroids: same places up to rounding.
    const spread = Math.max(...mine.own.map(p => Math.hypot(p.x, p.y)))
    mine.own.forEach((p, i) => {
      expect(Math.hypot(p.x - seen!.points[i].x, p.y - seen!.points[i].y)).toBeLessThan(0.05 * spread)
    })
  })
})
