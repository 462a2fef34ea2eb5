import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import OpenAI from 'openai'
import type { BrowserContext } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createInstantBackend } from '../../src/agent/instant.js'
import { startApi } from '../../src/api/server.js'
import { launchChromium } from './support/chromium.js'
import { startApiNetwork, type ApiNetwork } from './support/network.js'

describe('dashboard in headless Chromium', () => {
  let net: ApiNetwork
  let browser: BrowserContext
  let profileDir: string

  beforeAll(async () => {
    // Agents that take a moment (named parameter), so that a burst of queries leaves a visible backlog.
    const serviceDelayMs = 300
    net = await startApiNetwork({ nodes: 3, backends: [0, 1, 2].map(i => createInstantBackend({ label: `node-${i}`, delayMs: serviceDelayMs })) })
    profileDir = mkdtempSync(join(tmpdir(), 'ppai-chromium-'))
    // A fresh profile folder per run (playwright passes it as --user-data-dir).
    browser = await launchChromium(profileDir, { width: 1400, height: 900 })
  })
  afterAll(async () => {
    await browser?.close()
    await net?.close()
    if (profileDir != null) rmSync(profileDir, { recursive: true, force: true })
  })

  it('shows peers, the prototype map, and a decision row that appears live after a query', async () => {
    const page = await browser.newPage()
    const errors: string[] = []
    page.on('pageerror', e => errors.push(e.message))
    // The page's Content-Security-Policy (no inline script or style) must not stop any of the dashboard's own code or styles.
    page.on('console', m => { if (/Content Security Policy|Refused to/i.test(m.text())) errors.push(m.text()) })
    await page.goto(net.apis[0].url + '/')
    await page.waitForSelector('#live.on', { timeout: 10_000 })

    const status = net.services[0].status()
    await expect.poll(() => page.textContent('#node-name')).toBe(status.name)

    const peers = net.services[0].peers()
    await expect.poll(() => page.locator('tr.peer-row').count(), { timeout: 10_000 }).toBe(peers.length)
    expect(peers.length).toBe(2)

    const ownPoints = net.services[0].profile().prototypes.length
    await expect.poll(() => page.locator('circle.map-point.own').count(), { timeout: 10_000 }).toBe(ownPoints)

    const question = 'Which element has the atomic number six?'
    const client = new OpenAI({ baseURL: `${net.apis[0].url}/v1`, apiKey: 'unused', maxRetries: 0 })
    const completion = await client.chat.completions.create({ model: 'ppai', messages: [{ role: 'user', content: question }] })
    const { id, servedBy } = (completion as unknown as { ppai: { id: string, servedBy: string } }).ppai
    const row = page.locator(`tr.decision-row[data-id="${id}"]`)
    await row.waitFor({ timeout: 5_000 })
    expect(await row.textContent()).toContain(question)
    expect(await row.textContent()).toContain('ok')

    // Rating the answer from the page reaches the node: a peer's answer shows in what the node observed of that peer.
    const observedBefore = net.services[0].peers().find(p => p.peerId === servedBy)?.observedCount ?? 0
    await row.locator('button.fb-wrong').click()
    await row.locator('.rated').waitFor({ timeout: 5_000 })
    if (servedBy !== 'local') expect(net.services[0].peers().find(p => p.peerId === servedBy)?.observedCount).toBe(observedBefore + 1)

    // A burst of queries from every node: more decision rows, and load lines for the node and its peers.
    const burst = net.apis.flatMap((api, i) => [0, 1].map(k => new OpenAI({ baseURL: `${api.url}/v1`, apiKey: 'unused', maxRetries: 0 })
      .chat.completions.create({ model: 'ppai', messages: [{ role: 'user', content: `Burst ${i}.${k}: which law of motion relates force, mass and acceleration?` }] })))
    await Promise.all(burst)
    await expect.poll(() => page.locator('tr.decision-row').count(), { timeout: 10_000 }).toBe(net.services[0].decisions(60).length)
    // One line for the node's own backlog, one per peer it holds a load belief about.
    const expectedLines = (): number => 1 + net.services[0].peers().filter(p => p.believedBacklog != null).length
    await expect.poll(async () => await page.locator('polyline.load-line').count() - expectedLines(), { timeout: 10_000 }).toBe(0)
    expect(expectedLines()).toBe(3)

    mkdirSync('test-output', { recursive: true })
    await page.screenshot({ path: 'test-output/dashboard.png', fullPage: true })
    expect(errors).toEqual([])
    await page.close()
  })

  it('asks a question from the page and shows who served it', async () => {
    const page = await browser.newPage()
    await page.goto(net.apis[0].url + '/')
    await page.fill('#ask-input', 'What is the integral of 2x?')
    await page.click('#ask-form button')
    await page.locator('#ask-result .answer').waitFor({ timeout: 10_000 })
    expect(await page.textContent('#ask-result')).toContain('served by')
    await page.locator('tr.decision-row', { hasText: 'What is the integral of 2x?' }).waitFor({ timeout: 5_000 })
    await page.close()
  })

  it('asks for the token when the API has one, and shows the node once given it', async () => {
    const guarded = await startApi(net.services[0], { port: 0, token: 'dash-token' })
    try {
      const page = await browser.newPage()
      await page.goto(guarded.url + '/')
      await page.locator('#token-bar').waitFor({ state: 'visible', timeout: 10_000 })
      expect(await page.locator('tr.peer-row').count()).toBe(0)
      await page.fill('#token-input', 'dash-token')
      await page.click('#token-save')
      await expect.poll(() => page.locator('tr.peer-row').count(), { timeout: 10_000 }).toBe(net.services[0].peers().length)
      await page.close()
    } finally {
      await guarded.close()
    }
  })
})
