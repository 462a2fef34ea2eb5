import { A2A_PROTOCOL_VERSION, Role, TaskState, type AgentCard, type Message, type SendMessageRequest, type StreamResponse, type Task } from '@a2a-js/sdk'
import { ClientFactory, ClientFactoryOptions, JsonRpcTransportFactory, type Client } from '@a2a-js/sdk/client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createInstantBackend } from '../../src/agent/instant.js'
import { startApiNetwork, type ApiNetwork } from './support/network.js'

function request (text: string, metadata?: Record<string, unknown>): SendMessageRequest {
  const message: Message = {
    messageId: crypto.randomUUID(),
    contextId: '',
    taskId: '',
    role: Role.ROLE_USER,
    parts: [{ content: { $case: 'text', value: text }, mediaType: 'text/plain', filename: '', metadata: undefined }],
    metadata,
    extensions: [],
    referenceTaskIds: []
  }
  return { tenant: '', message, configuration: undefined, metadata: undefined }
}

function asTask (result: Message | Task): Task {
  expect('status' in result).toBe(true)
  return result as Task
}

function answerText (task: Task): string {
  const part = task.status?.message?.parts[0]?.content
  return part?.$case === 'text' ? part.value : ''
}

interface Ppai { id: string, servedBy: string, answer: string, attempts: unknown[] }

describe('A2A JSON-RPC server', () => {
  let net: ApiNetwork
  let client: Client

  beforeAll(async () => {
    net = await startApiNetwork({ nodes: 2 })
    client = await new ClientFactory().createFromUrl(net.apis[0].url)
  })
  afterAll(async () => { await net?.close() })

  it('lists a JSON-RPC interface at the SDK protocol version, and the 0.3 one', async () => {
    const card = await (await fetch(`${net.apis[0].url}/.well-known/agent-card.json`)).json() as AgentCard
    expect(card.supportedInterfaces).toEqual([
      { url: `${net.apis[0].url}/a2a/jsonrpc`, protocolBinding: 'JSONRPC', protocolVersion: A2A_PROTOCOL_VERSION },
      { url: `${net.apis[0].url}/a2a/jsonrpc`, protocolBinding: 'JSONRPC', protocolVersion: '0.3' }
    ])
    expect(client.protocolVersion).toBe(A2A_PROTOCOL_VERSION)
    expect(client.transport.protocolName).toBe('JSONRPC')
    expect(card.skills.length).toBe(net.services[0].profile().prototypes.length)
  })

  it('answers SendMessage with a completed task carrying the answer and the ppai explanation', async () => {
    const question = 'What is the derivative of x squared?'
    const task = asTask(await client.sendMessage(request(question, { model: 'local' })))
    expect(task.status?.state).toBe(TaskState.TASK_STATE_COMPLETED)
    expect(answerText(task)).toBe(`[node-0] answer to: ${question}`)
    const ppai = task.metadata?.ppai as Ppai
    expect(ppai.servedBy).toBe('local')
    expect(ppai.answer).toBe(answerText(task))
    expect(ppai.attempts.length).toBeGreaterThan(0)
    expect(task.status?.message?.metadata?.ppai).toEqual(ppai)
    const artifact = task.artifacts[0]
    expect(artifact.parts[0].content).toEqual({ $case: 'text', value: ppai.answer })

    const got = await client.getTask({ tenant: '', id: task.id })
    expect(got.id).toBe(task.id)
    expect(got.status?.state).toBe(TaskState.TASK_STATE_COMPLETED)
    expect(got.metadata?.ppai).toEqual(ppai)
    expect(got.history.some(m => m.role === Role.ROLE_USER)).toBe(true)
  })

  it('routes a message to a peer when asked for that peer', async () => {
    const peer = net.services[1].peerId
    const task = asTask(await client.sendMessage(request('Name a prime number above ten.', { model: `peer:${peer}` })))
    expect(task.status?.state).toBe(TaskState.TASK_STATE_COMPLETED)
    expect((task.metadata?.ppai as Ppai).servedBy).toBe(peer)
    expect(answerText(task)).toContain('[node-1]')
  })

  it('streams a task through submitted, working and completed', async () => {
    const events: StreamResponse[] = []
    for await (const event of client.sendMessageStream(request('Which planet is largest?', { model: 'local' }))) events.push(event)
    const kinds = events.map(e => e.payload?.$case)
    expect(kinds[0]).toBe('task')
    expect(kinds).toContain('artifactUpdate')
    const states = events.flatMap(e => e.payload?.$case === 'statusUpdate' ? [e.payload.value.status?.state] : [])
    expect(states).toEqual([TaskState.TASK_STATE_WORKING, TaskState.TASK_STATE_COMPLETED])
    const last = events.at(-1)?.payload
    expect(last?.$case).toBe('statusUpdate')
    if (last?.$case !== 'statusUpdate') return
    expect((last.value.metadata?.ppai as Ppai).servedBy).toBe('local')
  })

  it('fails the task, not the request, for an unknown model', async () => {
    const task = asTask(await client.sendMessage(request('anything', { model: 'gpt-9' })))
    expect(task.status?.state).toBe(TaskState.TASK_STATE_FAILED)
    expect(answerText(task)).toContain("unknown model 'gpt-9'")
  })

  it('answers GetTask of an unknown id with the A2A task-not-found error', async () => {
    await expect(client.getTask({ tenant: '', id: 'no-such-task' })).rejects.toThrow(/not found/i)
  })

  it('answers malformed JSON-RPC with JSON-RPC errors, not a 500', async () => {
    const post = async (body: string, version = A2A_PROTOCOL_VERSION): Promise<{ status: number, body: { jsonrpc: string, error?: { code: number, message: string } } }> => {
      const res = await fetch(`${net.apis[0].url}/a2a/jsonrpc`, { method: 'POST', headers: { 'content-type': 'application/json', 'A2A-Version': version }, body })
      return { status: res.status, body: await res.json() as { jsonrpc: string, error?: { code: number, message: string } } }
    }
    const notJson = await post('{"jsonrpc": "2.0", "method": ')
    expect(notJson.status).toBe(200)
    expect(notJson.body.jsonrpc).toBe('2.0')
    // The SDK answers unparsable JSON as a malformed request (its RequestMalformedError, -32602).
    expect(notJson.body.error?.code).toBe(-32602)
    const noMethod = await post(JSON.stringify({ jsonrpc: '2.0', id: 1, params: {} }))
    expect(noMethod.body.error?.code).toBe(-32602)
    const unknown = await post(JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'NoSuchMethod', params: {} }))
    expect(unknown.body.error?.code).toBe(-32601)
    const badParams = await post(JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'GetTask', params: [1] }))
    expect(badParams.body.error?.code).toBe(-32602)
    const badVersion = await post(JSON.stringify({ jsonrpc: '2.0', id: 4, method: 'GetTask', params: { id: 'x' } }), '9.9')
    expect(badVersion.status).toBe(200)
    expect(badVersion.body.error?.message).toMatch(/version/i)
  })

  it('serves the 0.3 method names to a request without A2A-Version', async () => {
    const rpc = async (method: string, params: unknown): Promise<{ result?: Record<string, unknown>, error?: { code: number } }> => {
      const res = await fetch(`${net.apis[0].url}/a2a/jsonrpc`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 7, method, params }) })
      expect(res.status).toBe(200)
      return await res.json() as { result?: Record<string, unknown>, error?: { code: number } }
    }
    const sent = await rpc('message/send', { message: { kind: 'message', messageId: crypto.randomUUID(), role: 'user', parts: [{ kind: 'text', text: 'What is two plus two?' }], metadata: { model: 'local' } } })
    expect(sent.error).toBeUndefined()
    expect(sent.result?.kind).toBe('task')
    expect((sent.result?.status as { state: string }).state).toBe('completed')
    expect(((sent.result?.metadata as { ppai: Ppai }).ppai).servedBy).toBe('local')
    const got = await rpc('tasks/get', { id: sent.result?.id })
    expect(got.result?.id).toBe(sent.result?.id)
    const missing = await rpc('tasks/get', { id: 'no-such-task' })
    expect(missing.error?.code).toBe(-32001)
  })
})

describe('A2A task cancellation', () => {
  let net: ApiNetwork
  beforeAll(async () => {
    net = await startApiNetwork({ nodes: 1, backends: [createInstantBackend({ label: 'slow', delayMs: 10_000 })], waitForProfiles: false })
  })
  afterAll(async () => { await net?.close() })

  it('cancels a working task: the stream ends canceled and GetTask says so', async () => {
    const client = await new ClientFactory().createFromUrl(net.apis[0].url)
    const started = Date.now()
    const states: TaskState[] = []
    let taskId = ''
    for await (const event of client.sendMessageStream(request('a slow question', { model: 'local' }))) {
      const p = event.payload
      if (p?.$case === 'task') taskId = p.value.id
      if (p?.$case !== 'statusUpdate') continue
      const state = p.value.status?.state ?? TaskState.TASK_STATE_UNSPECIFIED
      states.push(state)
      if (state === TaskState.TASK_STATE_WORKING) {
        const canceled = await client.cancelTask({ tenant: '', id: taskId, metadata: undefined })
        expect(canceled.status?.state).toBe(TaskState.TASK_STATE_CANCELED)
      }
    }
    expect(states).toEqual([TaskState.TASK_STATE_WORKING, TaskState.TASK_STATE_CANCELED])
    // Well before the backend's 10 s: the ask was aborted, not waited for.
    expect(Date.now() - started).toBeLessThan(5_000)
    const got = await client.getTask({ tenant: '', id: taskId })
    expect(got.status?.state).toBe(TaskState.TASK_STATE_CANCELED)
    await expect(client.cancelTask({ tenant: '', id: taskId, metadata: undefined })).resolves.toMatchObject({ id: taskId })
  })
})

describe('A2A behind --api-token', () => {
  const token = 'a2a-test-token'
  let net: ApiNetwork
  beforeAll(async () => { net = await startApiNetwork({ nodes: 1, api: { token }, waitForProfiles: false }) })
  afterAll(async () => { await net?.close() })

  it('declares the bearer scheme on the card and accepts only the token', async () => {
    const card = await (await fetch(`${net.apis[0].url}/.well-known/agent-card.json`)).json() as { securitySchemes: unknown, securityRequirements: unknown }
    expect(card.securitySchemes).toEqual({ bearer: { httpAuthSecurityScheme: { description: 'The node\'s API token', scheme: 'Bearer', bearerFormat: 'opaque' } } })
    expect(card.securityRequirements).toEqual([{ schemes: { bearer: {} } }])

    const withToken: typeof fetch = async (input, init) => {
      const headers = new Headers(init?.headers)
      headers.set('authorization', `Bearer ${token}`)
      return await fetch(input, { ...init, headers })
    }
    const options = ClientFactoryOptions.createFrom(ClientFactoryOptions.default, { transports: [new JsonRpcTransportFactory({ fetchImpl: withToken })] })
    const authed = await new ClientFactory(options).createFromUrl(net.apis[0].url)
    const task = asTask(await authed.sendMessage(request('Who wrote Hamlet?')))
    expect(task.status?.state).toBe(TaskState.TASK_STATE_COMPLETED)

    const anonymous = await new ClientFactory().createFromUrl(net.apis[0].url)
    await expect(anonymous.sendMessage(request('Who wrote Hamlet?'))).rejects.toThrow(/401/)
  })
})
