/**
 * `ppai lan` in its short form: real node processes, each in its own network
 * namespace on one bridge, no bootstrap list, a host cut off and a group
 * split from the rest while queries flow, then healed; and what a driver
 * killed with SIGKILL leaves behind removed by the next run's clean-up.
 * Needs root and iproute2; elsewhere skipped with the reason printed.
 */
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { lanLeftovers, lanUnavailable, removeLeftovers } from '../../src/lan/netns.js'
import type { LanReport } from '../../src/lan/run.js'

const CLI = resolve('dist/cli.js')
const why = lanUnavailable()
if (why != null) console.log(`test/lan skipped: ${why}`)

/** Every namespace and link of a driver with this pid. */
function namesOf (pid: number): string[] {
  const { namespaces, links } = lanLeftovers()
  return [...namespaces, ...links].filter(n => new RegExp(`^ppai-?${pid}(\\D|$)`).test(n))
}

function processState (pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')[0]
  } catch {
    return 'gone'
  }
}

describe.skipIf(why != null)('ppai lan (network namespaces)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ppai-lan-test-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('finds peers by mDNS alone, answers every query through a cut-off host, a split and a heal, and leaves nothing behind', () => {
    const json = join(dir, 'lan.json')
    // 3 hosts, 25 s of queries, a fault step every 4 s: link down, up, a split, a heal, a kill, a start.
    const r = spawnSync(process.execPath, [CLI, 'lan', '--hosts', '3', '--minutes', '0.42', '--fault-every-ms', '4000', '--seed-tasks', '30', '--json', json], { encoding: 'utf8', timeout: 100_000 })
    expect(r.status, r.stderr).toBe(0)
    const report = JSON.parse(readFileSync(json, 'utf8')) as LanReport
    expect(report.initialDiscoveryMs).not.toBeNull()
    expect(report.faults.linkDowns).toBe(1)
    expect(report.faults.splits).toBe(1)
    expect(report.issued).toBeGreaterThan(5)
    expect(report.lost).toBe(0)
    expect(report.errorsAfterDeadline).toBe(0)
    expect(report.answered + report.errors).toBe(report.issued)
    // Both heals were followed by every host concerned seeing its peers again, within the wait.
    expect(report.rediscoveryMs['link-up'].count).toBe(1)
    expect(report.rediscoveryMs.heal.count).toBe(1)
    expect(report.events.filter(e => e.step !== 'link-down' && e.step !== 'split' && e.step !== 'kill').every(e => e.rediscoveredMs != null)).toBe(true)
    expect(report.leftovers).toEqual([])
    expect(lanLeftovers().namespaces.filter(n => n.startsWith(`ppai-${r.pid ?? -1}-`))).toEqual([])
  }, 120_000)

  it('removes the namespaces, links and node processes of a driver killed with SIGKILL', async () => {
    const driver = spawn(process.execPath, [CLI, 'lan', '--hosts', '2', '--minutes', '1', '--seed-tasks', '10'], { stdio: ['ignore', 'ignore', 'pipe'] })
    const pid = driver.pid as number
    // Killed once its nodes have found each other: the LAN and two node processes exist.
    await new Promise<void>((resolve, reject) => {
      let err = ''
      const timer = setTimeout(() => reject(new Error(`the LAN did not come up: ${err}`)), 60_000)
      driver.stderr.setEncoding('utf8')
      driver.stderr.on('data', (c: string) => {
        err += c
        if (err.includes('under faults')) { clearTimeout(timer); resolve() }
      })
    })
    const nodePids = namesOf(pid).filter(n => n.startsWith('ppai-')).flatMap(ns => spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout.split('\n').map(Number).filter(p => p > 0))
    expect(nodePids.length).toBe(2)
    driver.kill('SIGKILL')
    await new Promise(resolve => driver.once('exit', resolve))
    // What it made outlives it: 2 namespaces, 2 bridges and 2 management veths.
    expect(namesOf(pid).length).toBeGreaterThanOrEqual(6)
    const before = namesOf(pid)
    const removed = removeLeftovers()
    expect(removed).toEqual(expect.arrayContaining(before.filter(n => n.startsWith('ppai-'))))
    expect(namesOf(pid)).toEqual([])
    // Gone, or a zombie waiting for this container's init to reap it: either way no longer running.
    await new Promise(resolve => setTimeout(resolve, 500))
    for (const p of nodePids) expect(processState(p)).toMatch(/^(gone|Z)$/)
  }, 90_000)
})
