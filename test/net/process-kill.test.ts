import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createInstantBackend } from '../../src/agent/instant.js'
import type { DecisionContext, RoutingPolicy } from '../../src/core/types.js'
import { NodeProcess, type ReadyInfo } from '../../src/demo/node-process.js'
import { createPpaiNode, type PpaiNode } from '../../src/net/node.js'
import { until } from '../support/until.js'

/** The built CLI (`npm install` builds it). */
const CLI = resolve('dist/cli.js')
const NETWORK = 'process-kill-test'

/** Sends every query to `peer` first, then to nothing else: a fallback can only be the own agent. */
function onlyPeer (peer: string): RoutingPolicy {
  return {
    name: 'greedy',
    decide (ctx: DecisionContext) {
      const action = ctx.candidates.some(c => c.id === peer) ? peer : 'local'
      return { policy: 'greedy', action, fallbacks: [], explanation: [], reason: `test: ${peer} only` }
    }
  }
}

describe('a serving node whose process is killed (SIGKILL) in the middle of a query', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ppai-kill-'))
  // The owner's past tasks, so that the server has a profile to advertise (and is a routing candidate).
  const seedFile = join(dir, 'seed.json')
  writeFileSync(seedFile, JSON.stringify(['boiling point of water', 'melting point of ice', 'water vapour pressure', 'heat of vaporisation'].map(q => ({ question: `What is the ${q} at sea level?`, outcome: 1 }))))
  // A real `ppai node` process with a simulated agent at the speed of a small device (seconds per answer), so it can be killed mid-answer.
  const server = new NodeProcess({
    name: 'server',
    cliPath: CLI,
    dir,
    startTimeoutMs: 20_000,
    args: ['--name', 'server', '--data-dir', join(dir, 'data'), '--host', '127.0.0.1', '--port', '0', '--api-port', '0', '--no-mdns', '--network', NETWORK,
      '--backend', 'simulated', '--data', 'synthetic', '--time-scale', '1', '--seed-file', seedFile, '--beacon-interval-ms', '300', '--log-level', 'warn']
  })
  let ready: ReadyInfo
  let asker: PpaiNode

  beforeAll(async () => {
    ready = await server.start()
    asker = await createPpaiNode({ name: 'asker', network: NETWORK, mdns: false, host: '127.0.0.1', logLevel: 'silent', beaconIntervalMs: 300, backend: createInstantBackend({ label: 'asker' }) })
    await asker.libp2p.dial(multiaddr(ready.addresses.map(a => a.includes('/p2p/') ? a : `${a}/p2p/${ready.peerId}`).find(a => a.startsWith('/ip4/127.0.0.1/')) ?? ''))
    // Its profile arrives by gossip: then it is a routing candidate.
    await until(() => asker.peers().some(p => p.peerId === ready.peerId && p.prototypes.length > 0), 15_000, 'the server\'s profile at the asker')
  }, 40_000)

  afterAll(async () => {
    await asker?.stop().catch(() => {})
    await server.kill()
    server.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('answers from the asker\'s own agent before the deadline, with the failed attempt in the record', async () => {
    const deadlineMs = 15_000
    asker.setPolicy(onlyPeer(ready.peerId))
    const t0 = Date.now()
    const pending = asker.ask('What is the boiling point of water at sea level?', { deadlineMs })
    // Wait until the query is in the server's hands (its answer takes seconds; its API says so), then pull the plug.
    let backlog = 0
    while (backlog === 0 && Date.now() - t0 < 5_000) {
      backlog = ((await (await fetch(`${ready.apiUrl}/api/status`)).json()) as { backlog: number }).backlog
      if (backlog === 0) await new Promise(resolve => setTimeout(resolve, 50))
    }
    expect(backlog).toBeGreaterThan(0)
    await server.kill()
    const killedAfterMs = Date.now() - t0
    const res = await pending
    const elapsedMs = Date.now() - t0
    console.log(`process kill: killed ${killedAfterMs} ms into the query; answered by ${res.servedBy} after ${elapsedMs} ms; attempts ${JSON.stringify(res.attempts.map(a => ({ action: a.action === ready.peerId ? 'server' : a.action, status: a.status, error: a.error })))}`)
    expect(elapsedMs).toBeLessThan(deadlineMs)
    expect(res.attempts[0]).toMatchObject({ action: ready.peerId })
    expect(res.attempts[0].status).not.toBe('ok')
    expect(res.servedBy).toBe('local')
    expect(res.answer).toContain('[asker]')
  }, 40_000)
})
