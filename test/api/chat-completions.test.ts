import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createBackend } from '../../src/agent/index.js'
import { syntheticQuestionSet } from '../../src/data/questions.js'
import { startApiNetwork, type ApiNetwork } from './support/network.js'

describe('OpenAI-compatible chat completions', () => {
  let net: ApiNetwork
  let client: OpenAI

  beforeAll(async () => {
    net = await startApiNetwork({ nodes: 2 })
    client = new OpenAI({ baseURL: `${net.apis[0].url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 20_000 })
  })
  afterAll(async () => { await net?.close() })

  it('answers a plain completion and says which agent served it', async () => {
    const completion = await client.chat.completions.create({
      model: 'local',
      messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'What is the derivative of x squared?' }]
    })
    expect(completion.object).toBe('chat.completion')
    expect(completion.choices[0].message.role).toBe('assistant')
    expect(completion.choices[0].message.content).toContain('What is the derivative of x squared?')
    expect(completion.choices[0].finish_reason).toBe('stop')
    const ppai = (completion as unknown as { ppai: { id: string, servedBy: string, attempts: unknown[] } }).ppai
    expect(ppai.servedBy).toBe('local')
    expect(ppai.id).toBeTruthy()
    expect(completion.id).toBe(`chatcmpl-${ppai.id}`)
    expect(ppai.attempts.length).toBeGreaterThan(0)
  })

  it('streams a completion as chunks that reassemble to the plain answer, ending with the AskResult', async () => {
    const question = 'Which enzyme unwinds the DNA double helix during replication?'
    const stream = await client.chat.completions.create({ model: 'local', stream: true, messages: [{ role: 'user', content: question }] })
    let text = ''
    let chunks = 0
    let finish: string | null = null
    let ppai: { servedBy: string } | undefined
    for await (const chunk of stream) {
      chunks++
      expect(chunk.object).toBe('chat.completion.chunk')
      text += chunk.choices[0]?.delta?.content ?? ''
      finish = chunk.choices[0]?.finish_reason ?? finish
      ppai = (chunk as unknown as { ppai?: { servedBy: string } }).ppai ?? ppai
    }
    expect(chunks).toBeGreaterThan(2)
    expect(finish).toBe('stop')
    expect(ppai?.servedBy).toBe('local')
    const plain = await client.chat.completions.create({ model: 'local', messages: [{ role: 'user', content: question }] })
    expect(text).toBe(plain.choices[0].message.content)
  })

  it('ends the raw event stream with data: [DONE]', async () => {
    const res = await fetch(`${net.apis[0].url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'local', stream: true, messages: [{ role: 'user', content: 'name a noble gas' }] })
    })
    expect(res.headers.get('content-type')).toContain('text/event-stream')
    const events = (await res.text()).split('\n\n').filter(e => e.trim() !== '')
    expect(events.at(-1)).toBe('data: [DONE]')
    expect(events.slice(0, -1).every(e => e.startsWith('data: {'))).toBe(true)
  })

  it('lists ppai, local and every known peer as models', async () => {
    const ids: string[] = []
    for await (const m of client.models.list()) ids.push(m.id)
    expect(ids).toContain('ppai')
    expect(ids).toContain('local')
    for (const peer of net.services[0].peers()) expect(ids).toContain(`peer:${peer.peerId}`)
    expect(ids.length).toBe(2 + net.services[0].peers().length)
  })

  it('routes model ppai through the network and still answers', async () => {
    const completion = await client.chat.completions.create({ model: 'ppai', messages: [{ role: 'user', content: 'What does a plaintiff have to prove in a negligence tort?' }] })
    const ppai = (completion as unknown as { ppai: { servedBy: string, decision?: { action: string } } }).ppai
    expect(completion.choices[0].message.content).toBeTruthy()
    const known = ['local', ...net.services.map(s => s.peerId)]
    expect(known).toContain(ppai.servedBy)
  })

  it('sends model peer:<id> to that peer', async () => {
    const target = net.services[1].peerId
    const completion = await client.chat.completions.create({ model: `peer:${target}`, messages: [{ role: 'user', content: 'Which planet has the largest moon?' }] })
    const ppai = (completion as unknown as { ppai: { servedBy: string } }).ppai
    expect(ppai.servedBy).toBe(target)
  })

  it('answers a question too large for a peer, sent to peer:<id>, with a 400 that says so (and routes it to the own agent under ppai)', async () => {
    const target = net.services[1].peerId
    const question = `Summarise this text: ${'a long document about the history of physics. '.repeat(4500)}`
    expect(question.length).toBeGreaterThan(200_000)
    const before = net.services[1].status().served.remote
    const err = await client.chat.completions.create({ model: `peer:${target}`, messages: [{ role: 'user', content: question }] }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(OpenAI.BadRequestError)
    expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe('invalid_body')
    expect((err as Error).message).toMatch(/too large to send to a peer/)
    expect(net.services[1].status().served.remote).toBe(before)
    const routed = await client.chat.completions.create({ model: 'ppai', messages: [{ role: 'user', content: question }] })
    expect((routed as unknown as { ppai: { servedBy: string } }).ppai.servedBy).toBe('local')
  })
})

describe('a node alone', () => {
  it('answers through model ppai with no peers and the built-in simulated agent', async () => {
    const set = syntheticQuestionSet(7)
    // Simulated personal agent on the synthetic workload; timeScale shrinks its simulated device time for the test.
    const { backend } = createBackend({ backend: 'simulated', name: 'lone', data: 'synthetic', timeScale: 0.01 }, undefined, set)
    const net = await startApiNetwork({ nodes: 1, backends: [backend] })
    try {
      const client = new OpenAI({ baseURL: `${net.apis[0].url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 20_000 })
      const q = set.questions[0]
      const prompt = `${q.question}\n${q.choices.map((c, i) => `${'ABCD'[i]}. ${c}`).join('\n')}`
      const completion = await client.chat.completions.create({ model: 'ppai', messages: [{ role: 'user', content: prompt }] })
      const ppai = (completion as unknown as { ppai: { servedBy: string, attempts: Array<{ action: string, status: string }> } }).ppai
      expect(completion.choices[0].message.content?.length).toBeGreaterThan(0)
      expect(ppai.servedBy).toBe('local')
      expect(ppai.attempts.at(-1)).toMatchObject({ action: 'local', status: 'ok' })
      const { data } = await client.models.list()
      expect(data.map(m => m.id)).toEqual(['ppai', 'local'])
    } finally {
      await net.close()
    }
  })
})
