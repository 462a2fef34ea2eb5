import { Role, TaskState, type StreamResponse } from '@a2a-js/sdk'
import { ClientFactory } from '@a2a-js/sdk/client'
import OpenAI, { APIError } from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AgentBackend } from '../../src/agent/backend.js'
import { createInstantBackend } from '../../src/agent/instant.js'
import { formatQuestion } from '../../src/agent/question-prompt.js'
import { recordedTrace } from '../../src/agent/recorded-trace.js'
import { EDGE_DEVICE, serviceTimeMs } from '../../src/agent/service-time.js'
import { createSimulatedBackend } from '../../src/agent/simulated.js'
import { syntheticQuestionSet } from '../../src/data/questions.js'
import { readThenGoAway } from '../support/abort-stream.js'
import { tokenBackend } from '../support/token-backend.js'
import { until } from '../support/until.js'
import { startApiNetwork, type ApiNetwork } from './support/network.js'

const set = syntheticQuestionSet(7)
/** A simulated device at real speed: prefill at 200 tokens/s, then 32 tokens at 20 tokens/s. */
const device = { ...EDGE_DEVICE, timeScale: 1 }
const slow = tokenBackend({ label: 'slow', tokens: 200, everyMs: 50 })
const steady = tokenBackend({ label: 'steady', tokens: 10, everyMs: 40 })
const breaking = tokenBackend({ label: 'breaking', tokens: 10, everyMs: 30, failAfter: 3 })
const broken = tokenBackend({ label: 'broken', failAfter: 0 })
/** One peer serves every token backend, picked by the question: more in-process nodes would cost more CPU than the timings allow. */
const byQuestion: Record<string, AgentBackend> = { 'break please': breaking, 'fail at once': broken, 'a long one': slow }
const tokenPeer: AgentBackend = {
  description: 'token backends by question',
  answer: async req => await (byQuestion[req.question] ?? steady).answer(req)
}

interface Timed { pieces: Array<{ text: string, at: number }>, totalMs: number, ppai?: { servedBy: string, id: string }, id?: string }

describe('token streaming to an OpenAI SDK client, across the libp2p hop', () => {
  let net: ApiNetwork
  let client: OpenAI
  const peer = (i: number): string => `peer:${net.services[i].peerId}`

  beforeAll(async () => {
    net = await startApiNetwork({
      nodes: 3,
      backends: [createInstantBackend({ label: 'node-0' }), createSimulatedBackend({ questions: set, model: recordedTrace(set.models[0]), service: device }), tokenPeer],
      waitForProfiles: false
    })
    client = new OpenAI({ baseURL: `${net.apis[0].url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 20_000 })
  })
  afterAll(async () => { await net?.close() })

  async function streamed (model: string, question: string, signal?: AbortSignal): Promise<Timed> {
    const t0 = performance.now()
    const out: Timed = { pieces: [], totalMs: 0 }
    const stream = await client.chat.completions.create({ model, stream: true, messages: [{ role: 'user', content: question }] }, { signal })
    for await (const chunk of stream) {
      out.id = chunk.id
      const text = chunk.choices[0]?.delta?.content ?? ''
      if (text !== '') out.pieces.push({ text, at: performance.now() - t0 })
      out.ppai = (chunk as unknown as Timed).ppai ?? out.ppai
    }
    out.totalMs = performance.now() - t0
    return out
  }

  it('shows the first token of a simulated peer\'s answer after its prefill, well before the last', async () => {
    const q = set.questions[3]
    const question = formatQuestion(q)
    // Unstreamed first: the same answer, and the network warmed up (the nodes publish their records at start).
    const plain = await client.chat.completions.create({ model: peer(1), messages: [{ role: 'user', content: question }] })
    const r = await streamed(peer(1), question)
    expect(r.ppai?.servedBy).toBe(net.services[1].peerId)
    expect(r.pieces.map(p => p.text).join('')).toBe(plain.choices[0].message.content)
    expect(r.id).toBe(`chatcmpl-${r.ppai?.id}`)
    const serviceMs = serviceTimeMs(question.length, device)
    const decodeMs = device.timeScale * 1000 * device.outputTokens / device.tokensPerSec
    // Nothing before prefill and a decode step; the first piece well before the last; all of it after the service time.
    expect(r.pieces[0].at).toBeGreaterThanOrEqual(serviceMs - decodeMs)
    expect(r.pieces[0].at).toBeLessThan((r.pieces.at(-1)?.at ?? 0) - decodeMs / 2)
    expect(r.totalMs).toBeGreaterThanOrEqual(serviceMs)
    expect(r.pieces.length).toBeGreaterThan(10)
  })

  it('ends the stream with an error the SDK raises when the peer fails mid-answer, never a hang', async () => {
    const pieces: string[] = []
    const started = Date.now()
    const stream = await client.chat.completions.create({ model: peer(2), stream: true, messages: [{ role: 'user', content: 'break please' }] })
    const err = await (async () => {
      for await (const chunk of stream) pieces.push(chunk.choices[0]?.delta?.content ?? '')
    })().then(() => undefined, (e: unknown) => e)
    expect(err).toBeInstanceOf(APIError)
    expect((err as APIError).message).toMatch(/broke off its streamed answer.*model server broke after 3 tokens/)
    expect(pieces.join('')).toBe('[breaking] t0 t1 t2')
    expect(Date.now() - started).toBeLessThan(5000)
  })

  it('answers a failure before the first token with its HTTP status, as an unstreamed request', async () => {
    const err = await client.chat.completions.create({ model: peer(2), stream: true, messages: [{ role: 'user', content: 'fail at once' }] }).then(() => undefined, (e: unknown) => e)
    expect(err).toBeInstanceOf(APIError)
    expect((err as APIError).status).toBe(502)
    expect((err as APIError).message).toMatch(/did not answer: backend-failed: model server broke after 0 tokens/)
  })

  it('cancels the peer\'s work when the client goes away mid-stream', async () => {
    await readThenGoAway(client, peer(2), 3)
    await until(() => slow.aborted.length === 1, 5000, 'the peer to cancel its backend')
    expect(slow.asked.at(-1)?.streamed).toBe(true)
  })

  it('streams an A2A task\'s answer as appended artifact chunks before it completes', async () => {
    const a2a = await new ClientFactory().createFromUrl(net.apis[0].url)
    const events: StreamResponse[] = []
    const message = { messageId: crypto.randomUUID(), contextId: '', taskId: '', role: Role.ROLE_USER, parts: [{ content: { $case: 'text' as const, value: 'stream over A2A' }, mediaType: 'text/plain', filename: '', metadata: undefined }], metadata: { model: peer(2) }, extensions: [], referenceTaskIds: [] }
    for await (const event of a2a.sendMessageStream({ tenant: '', message, configuration: undefined, metadata: undefined })) events.push(event)
    const updates = events.flatMap(e => e.payload?.$case === 'artifactUpdate' ? [e.payload.value] : [])
    const chunks = updates.filter(u => !u.lastChunk)
    expect(chunks.length).toBe(10)
    expect(chunks[0].append).toBe(false)
    expect(chunks.slice(1).every(u => u.append)).toBe(true)
    const text = (u: typeof updates[number]): string => u.artifact?.parts.map(p => p.content?.$case === 'text' ? p.content.value : '').join('') ?? ''
    expect(chunks.map(text).join('')).toBe(steady.answerText)
    const last = updates.at(-1)
    expect(last?.lastChunk).toBe(true)
    expect(text(last as typeof updates[number])).toBe(steady.answerText)
    const final = events.at(-1)?.payload
    expect(final?.$case === 'statusUpdate' && final.value.status?.state).toBe(TaskState.TASK_STATE_COMPLETED)
    const taskId = events[0].payload?.$case === 'task' ? events[0].payload.value.id : ''
    const got = await a2a.getTask({ tenant: '', id: taskId })
    expect(got.artifacts.map(a => a.parts.length)).toEqual([1])
  })
})
