/**
 * What the owner taught a node survives SIGKILL: a real `ppai node` process
 * answers questions itself and through a peer, its owner rates the answers
 * over the HTTP API, and the process is killed at random moments after the
 * ratings (and in the middle of further ratings). On every restart the peer
 * id, the own profile (every rated local answer counted in a prototype) and
 * the observations of the peer (every rated peer answer) are back. A truncated
 * state file is moved aside with a warning, and the previous copy is used.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createInstantBackend } from '../../src/agent/instant.js'
import { seededRng } from '../../src/core/rng.js'
import { NodeProcess } from '../../src/demo/node-process.js'
import { createPpaiNode, type PpaiNode } from '../../src/net/node.js'
import { PEERS_FILE, PROFILE_FILE } from '../../src/net/node-state.js'
import { until } from './support.js'

const CLI = resolve('dist/cli.js')
const NETWORK = 'crash-state-test'
const ROUNDS = 10
const SUBJECTS = ['the boiling point of water', 'the causes of the French revolution', 'the derivative of a polynomial', 'the structure of DNA', 'the rules of contract law', 'the orbit of Mars']

interface Learnt { ownCount: number, peerObserved: number }

async function postJson (url: string, body: unknown): Promise<{ status: number, json: Record<string, unknown> }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  return { status: res.status, json: await res.json() as Record<string, unknown> }
}

describe('a node killed (SIGKILL) after its owner rated answers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ppai-crash-'))
  const dataDir = join(dir, 'data')
  const node = new NodeProcess({
    name: 'crashy',
    cliPath: CLI,
    dir,
    startTimeoutMs: 30_000,
    args: ['--name', 'crashy', '--data-dir', dataDir, '--host', '127.0.0.1', '--port', '0', '--api-port', '0', '--no-mdns', '--network', NETWORK,
      '--backend', 'instant', '--beacon-interval-ms', '500', '--log-level', 'warn']
  })
  let helper: PpaiNode
  let api = ''
  let peerId = ''

  /** What the running node says it learnt: rated local answers in its prototypes, rated answers of the helper. */
  const learnt = async (): Promise<Learnt> => {
    const map = await (await fetch(`${api}/api/map`)).json() as { own: Array<{ count: number }> }
    const peers = await (await fetch(`${api}/api/peers`)).json() as { peers: Array<{ peerId: string, observedCount: number }> }
    return {
      ownCount: Math.round(map.own.reduce((s, p) => s + p.count, 0)),
      peerObserved: peers.peers.find(p => p.peerId === helper.peerId)?.observedCount ?? 0
    }
  }

  /** Starts the node and waits until it is connected to the helper again (a peer shows in /api/peers once connected). */
  const start = async (): Promise<void> => {
    const ready = await node.start([`${helper.multiaddrs()[0]}`])
    api = ready.apiUrl
    if (peerId === '') peerId = ready.peerId
    expect(ready.peerId).toBe(peerId)
    await until(async () => ((await (await fetch(`${api}/api/peers`)).json()) as { peers: Array<{ peerId: string }> }).peers.some(p => p.peerId === helper.peerId), 15_000, 'the helper among the peers')
  }

  /** Asks and rates `n` questions through `model`; how many ratings the node took. */
  const askAndRate = async (n: number, model: string, tag: string): Promise<number> => {
    let rated = 0
    for (let i = 0; i < n; i++) {
      const asked = await postJson(`${api}/v1/chat/completions`, { model, messages: [{ role: 'user', content: `${tag}.${i}: what do you know about ${SUBJECTS[(i + tag.length) % SUBJECTS.length]}?` }] })
      expect(asked.status).toBe(200)
      const id = (asked.json.ppai as { id: string }).id
      const fb = await postJson(`${api}/api/feedback`, { id, rating: i % 2 })
      expect(fb.status).toBe(200)
      rated++
    }
    return rated
  }

  beforeAll(async () => {
    helper = await createPpaiNode({ name: 'helper', network: NETWORK, mdns: false, host: '127.0.0.1', port: 0, logLevel: 'silent', beaconIntervalMs: 500, backend: createInstantBackend({ label: 'helper' }) })
  })

  afterAll(async () => {
    await node.kill()
    node.close()
    await helper?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it(`keeps the peer id, the profile and the observations through ${ROUNDS} kills at random moments`, async () => {
    const rng = seededRng('crash-state')
    const expected: Learnt = { ownCount: 0, peerObserved: 0 }
    const log: string[] = []
    let settled = 0
    let burstKept = 0
    for (let round = 1; round <= ROUNDS; round++) {
      await start()
      const back = await learnt()
      // Everything rated before the last kill's settle time is back.
      expect(back, `round ${round}`).toEqual(expected)
      const local = await askAndRate(3, 'local', `r${round}-local`)
      const viaPeer = await askAndRate(2, `peer:${helper.peerId}`, `r${round}-peer`)
      expected.ownCount += local
      expected.peerObserved += viaPeer
      settled += local + viaPeer
      // A few seconds after the last rating, at a random moment; every other round with more ratings still coming in.
      const settleMs = Math.round(1000 + 2000 * rng())
      await new Promise(resolve => setTimeout(resolve, settleMs))
      let inFlight = ''
      if (round % 2 === 0) {
        const burst = askAndRate(6, 'local', `r${round}-burst`).catch(() => 0)
        const killAfterMs = Math.round(400 * rng())
        await new Promise(resolve => setTimeout(resolve, killAfterMs))
        await node.kill()
        await burst
        inFlight = `, killed ${killAfterMs} ms into a burst of ratings`
      } else {
        await node.kill()
      }
      log.push(`round ${round}: ${settleMs} ms after the ratings${inFlight}`)
      if (round % 2 === 0) {
        // The ratings of the burst the kill cut short are kept or lost whole, the state never damaged: count what came back.
        await start()
        const after = await learnt()
        expect(after.ownCount).toBeGreaterThanOrEqual(expected.ownCount)
        expect(after.ownCount).toBeLessThanOrEqual(expected.ownCount + 6)
        expect(after.peerObserved).toBe(expected.peerObserved)
        burstKept += after.ownCount - expected.ownCount
        expected.ownCount = after.ownCount
        await node.kill()
      }
      expect(readdirSync(dataDir).filter(f => /damaged|other-space/.test(f))).toEqual([])
    }
    await start()
    expect(await learnt()).toEqual(expected)
    console.log(`[crash-state] ${ROUNDS} SIGKILLs; ratings made 1-3 s before a kill: kept ${settled} of ${settled}, every restart; ratings in flight when killed: ${burstKept} kept of at most ${6 * ROUNDS / 2} sent; ` +
      `final: ${expected.ownCount} rated local answers in the profile, ${expected.peerObserved} observations of the peer\n  ${log.join('\n  ')}`)

    // A clean stop keeps the observations too.
    await node.stop()
    await start()
    expect(await learnt()).toEqual(expected)
    await node.kill()
  }, 300_000)

  it('moves a truncated state file aside with a warning and starts from the previous copy', async () => {
    await node.kill()
    const profilePath = join(dataDir, PROFILE_FILE)
    expect(existsSync(profilePath + '.prev')).toBe(true)
    truncateSync(profilePath, Math.floor(statSync(profilePath).size / 2))
    writeFileSync(join(dataDir, PEERS_FILE), '{"format":1,"embedderId":"hash-ngram')
    const logBefore = readFileSync(node.logFile, 'utf8').length
    await start()
    const back = await learnt()
    // The previous copy: at most one save behind, never an empty start.
    expect(back.ownCount).toBeGreaterThan(0)
    expect(back.peerObserved).toBeGreaterThan(0)
    const aside = readdirSync(dataDir).filter(f => f.includes('.damaged-'))
    expect(aside.some(f => f.startsWith(`${PROFILE_FILE}.damaged-`))).toBe(true)
    expect(aside.some(f => f.startsWith(`${PEERS_FILE}.damaged-`))).toBe(true)
    const logged = readFileSync(node.logFile, 'utf8').slice(logBefore)
    expect(logged).toMatch(/saved state set aside \(damaged\)/)
    expect(logged).toMatch(/TRUNCATED/)
    const ready = logged.split('\n').filter(l => l.startsWith('{"event":"ready"')).map(l => JSON.parse(l) as { stateSetAside: Array<{ file: string }> })
    expect(ready.at(-1)?.stateSetAside.map(s => s.file)).toEqual([profilePath, join(dataDir, PEERS_FILE)])
    await node.kill()
  }, 60_000)
})
