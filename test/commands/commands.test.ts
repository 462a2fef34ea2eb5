import { spawnSync } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createInstantBackend } from '../../src/agent/instant.js'
import { startApi } from '../../src/api/server.js'
import { askCommand } from '../../src/commands/ask.js'
import { ConfigFileError, readConfigFile, readSeedFile } from '../../src/commands/node-files.js'
import { createPpaiNode, type PpaiNode } from '../../src/net/node.js'
import type { AskResult } from '../../src/net/service.js'

describe('ppai ask against a running node (real HTTP API, real libp2p)', () => {
  let asker: PpaiNode
  let helper: PpaiNode
  let api: { url: string, close(): Promise<void> }
  let dir: string

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ppai-cmd-'))
    const common = { network: 'cmd-test', mdns: false, logLevel: 'silent', beaconIntervalMs: 500 }
    helper = await createPpaiNode({ ...common, name: 'helper', backend: createInstantBackend({ label: 'helper' }) })
    asker = await createPpaiNode({ ...common, name: 'asker', bootstrap: helper.multiaddrs(), backend: createInstantBackend({ label: 'asker' }) })
    api = await startApi(asker, { port: 0, dataDir: join(dir, 'no-data') })
    const end = Date.now() + 5000
    while (asker.peers().length === 0 && Date.now() < end) await new Promise(resolve => setTimeout(resolve, 50))
  })
  afterAll(async () => {
    await api?.close()
    await Promise.all([asker?.stop(), helper?.stop()])
    await rm(dir, { recursive: true, force: true })
  })

  const run = async (question: string, flags: Partial<{ api: string, model: string, json: boolean }>): Promise<{ code: number, out: string, err: string }> => {
    let out = ''
    let err = ''
    const code = await askCommand(question, { api: api.url, model: 'ppai', timeoutMs: '10000', ...flags }, s => { out += s }, s => { err += s })
    return { code, out, err }
  }

  it('prints the answer, who served it and the routing decision', async () => {
    const r = await run('Why is the sky blue?', {})
    expect(r.code).toBe(0)
    expect(r.out).toMatch(/answer to: Why is the sky blue\?/)
    expect(r.out).toMatch(/served by: /)
    expect(r.out).toMatch(/policy: ppai {3}chose: /)
    expect(r.out).toMatch(/attempt: .* → ok/)
  })

  it('prints the whole result as JSON with --json, honouring --model peer:<id>', async () => {
    const r = await run('hello', { model: `peer:${helper.peerId}`, json: true })
    expect(r.code).toBe(0)
    const result = JSON.parse(r.out) as AskResult
    expect(result.servedBy).toBe(helper.peerId)
    expect(result.answer).toContain('[helper]')
  })

  it('says clearly when the node cannot be reached', async () => {
    const r = await run('hello', { api: 'http://127.0.0.1:9' })
    expect(r.code).toBe(2)
    expect(r.err).toMatch(/cannot reach the node at http:\/\/127\.0\.0\.1:9/)
  })

  it('relays the node\'s refusal of an unknown model', async () => {
    const r = await run('hello', { model: 'gpt-5' })
    expect(r.code).toBe(1)
    expect(r.err).toMatch(/model_not_found/)
  })
})

describe('ppai node files', () => {
  it('reads a valid config file and refuses malformed or invalid ones with a reason', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ppai-cfg-'))
    try {
      const good = join(dir, 'good.json')
      await writeFile(good, JSON.stringify({ name: 'n1', network: 'lab', bootstrap: ['/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWx'], mdns: false, apiPort: 0 }))
      expect(await readConfigFile(good)).toMatchObject({ name: 'n1', network: 'lab', mdns: false })
      const bad = join(dir, 'bad.json')
      await writeFile(bad, '{ nope')
      await expect(readConfigFile(bad)).rejects.toMatchObject({ reason: 'malformed' })
      const invalid = join(dir, 'invalid.json')
      await writeFile(invalid, JSON.stringify({ network: 'Has Spaces', port: 'x' }))
      await expect(readConfigFile(invalid)).rejects.toBeInstanceOf(ConfigFileError)
      await expect(readConfigFile(invalid)).rejects.toMatchObject({ reason: 'invalid' })
      await expect(readConfigFile(join(dir, 'missing.json'))).rejects.toMatchObject({ reason: 'unreadable' })
      const seed = join(dir, 'seed.json')
      await writeFile(seed, JSON.stringify([{ question: 'q1', outcome: 1 }, { question: 'q2' }]))
      expect(await readSeedFile(seed)).toHaveLength(2)
      await writeFile(seed, JSON.stringify([{ question: 'q1', outcome: 7 }]))
      await expect(readSeedFile(seed)).rejects.toMatchObject({ reason: 'invalid' })
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('ppai node refuses a configuration it cannot serve, in one line', () => {
  /** Runs the built CLI; a refusal comes before the node goes on the network, so within seconds. */
  const node = (args: string[], dataDir: string): { status: number | null, stderr: string } => {
    const r = spawnSync(process.execPath, [resolve('dist/cli.js'), 'node', '--data-dir', dataDir, '--port', '0', '--api-port', '0', '--no-mdns', '--backend', 'instant', '--log-level', 'silent', ...args], { encoding: 'utf8', timeout: 30_000 })
    return { status: r.status, stderr: r.stderr }
  }

  it('an API on 0.0.0.0 without a token, a name peers would drop, a malformed allowed origin', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ppai-refuse-'))
    try {
      const cases: Array<{ args: string[], message: RegExp }> = [
        { args: ['--api-host', '0.0.0.0'], message: /^ppai node: refusing to serve the API on 0\.0\.0\.0 without a token: set --api-token/ },
        { args: ['--name', 'n'.repeat(65)], message: /^ppai node: --name: a node name has at most 64 characters: peers drop the records of a longer one \(got 65 characters\)/ },
        { args: ['--api-origins', 'http://localhost:3000/app'], message: /^ppai node: --api-origins: an origin has no path.*did you mean http:\/\/localhost:3000\?/ }
      ]
      for (const c of cases) {
        const r = node(c.args, join(dir, 'data'))
        expect(r.status, c.args.join(' ')).toBe(2)
        expect(r.stderr).toMatch(c.message)
        // One line, no stack trace.
        expect(r.stderr.trim().split('\n')).toHaveLength(1)
        expect(r.stderr).not.toMatch(/\n\s+at /)
      }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
