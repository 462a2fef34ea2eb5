import { createHash } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Command } from 'commander'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createInstantBackend } from '../../src/agent/instant.js'
import { OpenAiBackendError } from '../../src/agent/openai.js'
import { createOpenAiEmbedder } from '../../src/agent/openai-embedder.js'
import { startApi } from '../../src/api/server.js'
import { encodeLsaSpace, fitLsaSpace } from '../../src/core/lsa.js'
import { registerNodeCommand } from '../../src/commands/node.js'
import { EmbedderSpecError, resolveEmbedder } from '../../src/net/embedder-spec.js'
import { createPpaiNode, type PpaiNode } from '../../src/net/node.js'

const DIM = 24

/** A deterministic, not normalised vector of `dim` numbers from a hash of the text. */
function vectorOf (text: string, dim: number): number[] {
  const out: number[] = []
  for (let block = 0; out.length < dim; block++) {
    const h = createHash('sha256').update(`${block}|${text}`).digest()
    for (let i = 0; i < h.length && out.length < dim; i++) out.push((h[i] - 127.5) * 3)
  }
  return out
}

/** A real `/v1/embeddings` server on 127.0.0.1; the path prefix picks its behaviour, `mode` turns the `/ok` one bad. */
let server: Server
let base: string
let mode: 'ok' | 'status500' | 'other-dim' = 'ok'
const requests: Array<{ path: string, auth?: string, body: { model: string, input: string, encoding_format?: string } }> = []

beforeAll(async () => {
  server = createServer((req, res) => {
    let raw = ''
    req.setEncoding('utf8')
    req.on('data', (chunk: string) => { raw += chunk })
    req.on('end', () => {
      const path = req.url ?? ''
      const body = JSON.parse(raw) as { model: string, input: string }
      requests.push({ path, auth: req.headers.authorization, body })
      res.setHeader('content-type', 'application/json')
      if (path === '/ok/v1/embeddings' && mode === 'status500') {
        res.statusCode = 500
        res.end(JSON.stringify({ error: { message: 'model unloaded' } }))
      } else if (path === '/ok/v1/embeddings') {
        const embedding = vectorOf(body.input, mode === 'other-dim' ? DIM / 2 : DIM)
        res.end(JSON.stringify({ object: 'list', model: body.model, data: [{ object: 'embedding', index: 0, embedding }], usage: { prompt_tokens: 3, total_tokens: 3 } }))
      } else if (path === '/strings/v1/embeddings') {
        res.end(JSON.stringify({ object: 'list', data: [{ object: 'embedding', index: 0, embedding: 'AAAA' }] }))
      } else if (path === '/html/v1/embeddings') {
        res.setHeader('content-type', 'text/html')
        res.end('<html>bad gateway</html>')
      } else {
        res.statusCode = 404
        res.end(JSON.stringify({ error: 'no such route' }))
      }
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

afterAll(async () => {
  server.closeAllConnections()
  await new Promise<void>(resolve => server.close(() => resolve()))
})

/** A port on 127.0.0.1 that nothing listens on: opened, then closed. */
async function closedPort (): Promise<number> {
  const s = createServer()
  await new Promise<void>(resolve => s.listen(0, '127.0.0.1', resolve))
  const port = (s.address() as AddressInfo).port
  await new Promise<void>(resolve => s.close(() => resolve()))
  return port
}

async function rejection (promise: Promise<unknown>): Promise<Error> {
  try {
    await promise
  } catch (err) {
    return err as Error
  }
  throw new Error('expected a rejection')
}

describe('openai:<model> embedder against a real /v1/embeddings server', () => {
  it('learns the dimension from a probe, names the space by model and dimension, and returns unit vectors', async () => {
    const embedder = await createOpenAiEmbedder({ baseUrl: `${base}/ok/v1`, model: 'tiny-embed', apiKey: 'sekret' })
    expect(embedder.dim).toBe(DIM)
    expect(embedder.id).toBe(`openai:tiny-embed:d${DIM}`)
    const v = await embedder.embedAsync('What is the boiling point of water?')
    expect(v).toBeInstanceOf(Float32Array)
    expect(v.length).toBe(DIM)
    expect(Math.hypot(...v)).toBeCloseTo(1, 5)
    // The server's vector, scaled to unit length.
    const raw = vectorOf('What is the boiling point of water?', DIM)
    const norm = Math.hypot(...raw)
    expect(v[0]).toBeCloseTo(raw[0] / norm, 6)
    expect(Array.from(await embedder.embedAsync('What is the boiling point of water?'))).toEqual(Array.from(v))
    const last = requests.at(-1)
    expect(last?.auth).toBe('Bearer sekret')
    expect(last?.body).toEqual({ model: 'tiny-embed', input: 'What is the boiling point of water?', encoding_format: 'float' })
  })

  it('says which URL and model are unreachable', async () => {
    const port = await closedPort()
    const err = await rejection(createOpenAiEmbedder({ baseUrl: `http://127.0.0.1:${port}/v1`, model: 'tiny-embed' }))
    expect(err).toBeInstanceOf(OpenAiBackendError)
    expect((err as OpenAiBackendError).reason).toBe('unreachable')
    expect(err.message).toContain('openai:tiny-embed')
    expect(err.message).toContain(`http://127.0.0.1:${port}/v1/embeddings is unreachable`)
  })

  it('refuses a malformed answer (not JSON, or no array of numbers) with the URL and model', async () => {
    const html = await rejection(createOpenAiEmbedder({ baseUrl: `${base}/html/v1`, model: 'm1' }))
    expect((html as OpenAiBackendError).reason).toBe('malformed-body')
    expect(html.message).toMatch(/openai:m1: http:\/\/127\.0\.0\.1:\d+\/html\/v1\/embeddings answered HTTP 200 with a body that is not JSON/)
    const strings = await rejection(createOpenAiEmbedder({ baseUrl: `${base}/strings/v1`, model: 'm2' }))
    expect((strings as OpenAiBackendError).reason).toBe('malformed-body')
    expect(strings.message).toMatch(/openai:m2: .*\/strings\/v1\/embeddings answered HTTP 200 without data\[0\]\.embedding/)
  })

  it('refuses a vector of another dimension later, and relays an error status with the server message', async () => {
    const embedder = await createOpenAiEmbedder({ baseUrl: `${base}/ok/v1`, model: 'tiny-embed' })
    try {
      mode = 'other-dim'
      const dim = await rejection(embedder.embedAsync('hello'))
      expect(dim.message).toContain(`a vector of ${DIM / 2} dimensions, not the ${DIM} the node embeds in`)
      expect(dim.message).toContain('openai:tiny-embed')
      mode = 'status500'
      const status = await rejection(embedder.embedAsync('hello'))
      expect((status as OpenAiBackendError).status).toBe(500)
      expect(status.message).toMatch(/openai:tiny-embed: .*\/ok\/v1\/embeddings answered HTTP 500: model unloaded/)
    } finally {
      mode = 'ok'
    }
  })
})

describe('--embedder specs', () => {
  let dir: string
  beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'ppai-embedder-')) })
  afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

  it('hash is the default space; an unknown spec is refused with the syntax', async () => {
    expect((await resolveEmbedder('hash')).id).toBe('hash-ngram-v1-d256')
    const err = await rejection(resolveEmbedder('word2vec'))
    expect(err).toBeInstanceOf(EmbedderSpecError)
    expect(err.message).toBe('--embedder word2vec: not an embedder; one of hash | lsa:<file> | openai:<model>')
  })

  it('lsa:<file> reads a fitted space: its id and dimension, unit vectors', async () => {
    const texts = ['water boils at a high temperature', 'ice melts at a low temperature', 'the heart pumps blood', 'blood carries oxygen to the heart', 'water and ice are one substance', 'oxygen and water in blood']
    const space = fitLsaSpace(texts, { dim: 3, minDf: 1 })
    const file = join(dir, 'space.lsa')
    await writeFile(file, encodeLsaSpace(space))
    const embedder = await resolveEmbedder(`lsa:${file}`)
    expect(embedder.id).toMatch(/^lsa-v2-d3-[0-9a-f]{8}$/)
    expect(embedder.dim).toBe(3)
    expect('embed' in embedder && Math.hypot(...embedder.embed('boiling water temperature'))).toBeCloseTo(1, 5)
  })

  it('lsa:<file> names the file that is missing or not an LSA space', async () => {
    const missing = join(dir, 'missing.lsa')
    const a = await rejection(resolveEmbedder(`lsa:${missing}`))
    expect(a).toMatchObject({ name: 'EmbedderSpecError', reason: 'unreadable' })
    expect(a.message).toBe(`--embedder lsa:${missing}: cannot read the file (ENOENT)`)
    const garbage = join(dir, 'garbage.lsa')
    await writeFile(garbage, 'this is not a fitted space at all')
    const b = await rejection(resolveEmbedder(`lsa:${garbage}`))
    expect(b).toMatchObject({ name: 'EmbedderSpecError', reason: 'malformed' })
    expect(b.message).toMatch(new RegExp(`^--embedder lsa:${garbage.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: not an LSA space`))
  })

  it('openai:<model> needs a URL and reports an unreachable one', async () => {
    const a = await rejection(resolveEmbedder('openai:nomic-embed-text'))
    expect(a).toMatchObject({ reason: 'missing-url' })
    expect(a.message).toContain('--embedder-url')
    const port = await closedPort()
    const b = await rejection(resolveEmbedder('openai:nomic-embed-text', { url: `http://127.0.0.1:${port}/v1` }))
    expect(b).toMatchObject({ reason: 'unreachable' })
    expect(b.message).toContain(`embedder openai:nomic-embed-text: http://127.0.0.1:${port}/v1/embeddings is unreachable`)
  })

  it('ppai node prints a bad --embedder as one line and exits 2, with no stack trace', async () => {
    const port = await closedPort()
    const cases: Array<[string[], RegExp]> = [
      [['--embedder', `lsa:${join(dir, 'none.lsa')}`], /^ppai node: --embedder lsa:.*none\.lsa: cannot read the file \(ENOENT\)\n$/],
      [['--embedder', 'openai:e5', '--embedder-url', `http://127.0.0.1:${port}/v1`], /^ppai node: embedder openai:e5: http:\/\/127\.0\.0\.1:\d+\/v1\/embeddings is unreachable \(ECONNREFUSED\)\n$/],
      // The chat backend's URL serves when there is no --embedder-url.
      [['--embedder', 'openai:e5', '--backend-url', `${base}/html/v1`], /^ppai node: embedder openai:e5: .*\/html\/v1\/embeddings answered HTTP 200 with a body that is not JSON/]
    ]
    for (const [args, expected] of cases) {
      const program = new Command().exitOverride()
      registerNodeCommand(program)
      let err = ''
      const write = process.stderr.write.bind(process.stderr)
      process.stderr.write = ((chunk: string) => { err += chunk; return true }) as typeof process.stderr.write
      try {
        await program.parseAsync(['node', '--name', 'embedder-cli-test', '--data-dir', join(dir, 'data'), ...args], { from: 'user' })
      } finally {
        process.stderr.write = write
      }
      expect(err).toMatch(expected)
      expect(process.exitCode).toBe(2)
      process.exitCode = undefined
    }
  })
})

describe('nodes that embed with a model server', () => {
  let asker: PpaiNode
  let helper: PpaiNode
  let api: { url: string, close(): Promise<void> }
  let dir: string

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ppai-embed-node-'))
    const embedder = await resolveEmbedder('openai:tiny-embed', { url: `${base}/ok/v1` })
    const common = { network: 'embed-test', mdns: false, host: '127.0.0.1', logLevel: 'silent', beaconIntervalMs: 300, embedder }
    const seed = ['boiling point of water', 'melting point of ice', 'heat of vaporisation'].map(q => ({ question: `What is the ${q}?`, outcome: 1 }))
    helper = await createPpaiNode({ ...common, name: 'helper', seed, backend: createInstantBackend({ label: 'helper' }) })
    asker = await createPpaiNode({ ...common, name: 'asker', bootstrap: helper.multiaddrs(), backend: createInstantBackend({ label: 'asker' }) })
    api = await startApi(asker, { port: 0, dataDir: join(dir, 'no-data') })
  })
  afterAll(async () => {
    mode = 'ok'
    await api?.close()
    await Promise.all([asker?.stop(), helper?.stop()])
    await rm(dir, { recursive: true, force: true })
  })

  const chat = async (content: string, model = 'ppai'): Promise<{ status: number, body: { error?: { message: string, code: string }, ppai?: { servedBy: string, decision?: unknown } } }> => {
    const res = await fetch(`${api.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model, messages: [{ role: 'user', content }] })
    })
    return { status: res.status, body: await res.json() }
  }

  it('seeds the profile through the server and sees a peer of the same space', async () => {
    expect(helper.profile().embedderId).toBe(`openai:tiny-embed:d${DIM}`)
    expect(helper.profile().prototypes.length).toBeGreaterThan(0)
    expect(helper.profile().prototypes[0].centroid.length).toBe(DIM)
    const end = Date.now() + 15_000
    while (!asker.peers().some(p => p.peerId === helper.peerId && p.prototypes.length > 0) && Date.now() < end) await new Promise(resolve => setTimeout(resolve, 50))
    expect(asker.peers().find(p => p.peerId === helper.peerId)?.prototypes.length).toBeGreaterThan(0)
  })

  it('answers a routed query through its HTTP API, the query embedded by the server', async () => {
    const before = requests.filter(r => r.body.input === 'What is the boiling point of water?').length
    const r = await chat('What is the boiling point of water?')
    expect(r.status).toBe(200)
    expect(r.body.ppai?.decision).toBeTruthy()
    expect(requests.filter(r => r.body.input === 'What is the boiling point of water?').length).toBe(before + 1)
  })

  it('fails a query with a clear error while the server fails, and stays up', async () => {
    mode = 'status500'
    try {
      const r = await chat('What is the melting point of iron?')
      expect(r.status).toBe(502)
      expect(r.body.error?.code).toBe('backend_failed')
      expect(r.body.error?.message).toMatch(/cannot embed the query: embedder openai:tiny-embed: http:\/\/127\.0\.0\.1:\d+\/ok\/v1\/embeddings answered HTTP 500: model unloaded/)
    } finally {
      mode = 'ok'
    }
    const again = await chat('What is the melting point of iron?')
    expect(again.status).toBe(200)
  })
})
