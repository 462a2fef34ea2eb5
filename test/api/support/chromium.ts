/**
 * A headless Chromium for the browser tests, brought by `npm install`: the
 * Chromium that ships inside the npm package `@sparticuz/chromium` (a
 * brotli'd headless shell, unpacked once per package version into
 * `node_modules/.cache/ppai-chromium/`, about 2 s and 210 MB), or the one that
 * `PPAI_CHROMIUM` names (e.g. `/usr/bin/chromium`, Debian's package). When
 * neither starts, the test fails saying why: it never skips.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { chromium, type BrowserContext } from 'playwright-core'
import { repoRoot } from '../../../src/data/questions.js'

/** As root Chromium needs --no-sandbox; the background-networking flags keep it off the network it cannot reach. */
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']

const PACKAGE = join(repoRoot, 'node_modules', '@sparticuz', 'chromium')

/** The unpacked packaged Chromium, unpacking it first if this version has not been. */
async function packagedChromium (): Promise<string> {
  const manifest = join(PACKAGE, 'package.json')
  if (!existsSync(manifest)) throw new Error(`${PACKAGE} is missing: run npm install (it is a dev dependency), or set PPAI_CHROMIUM to a Chromium executable`)
  const { version } = JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }
  const cache = join(repoRoot, 'node_modules', '.cache', 'ppai-chromium')
  const dir = join(cache, version)
  const exe = join(dir, 'chromium')
  if (existsSync(exe)) return exe
  // The package unpacks into os.tmpdir(), next to anything already there: a staging folder of this process's own,
  // renamed into place once complete, so that an interrupted unpack is never taken for a finished one.
  const staging = join(cache, `.unpacking-${process.pid}`)
  rmSync(staging, { recursive: true, force: true })
  mkdirSync(staging, { recursive: true })
  const tmp = process.env.TMPDIR
  process.env.TMPDIR = staging
  try {
    const { default: packaged } = await import('@sparticuz/chromium')
    await packaged.executablePath()
  } finally {
    if (tmp === undefined) delete process.env.TMPDIR
    else process.env.TMPDIR = tmp
  }
  try {
    renameSync(staging, dir)
  } catch (err) {
    // Another run unpacked the same version meanwhile: use its copy.
    rmSync(staging, { recursive: true, force: true })
    if (!existsSync(exe)) throw err
  }
  return exe
}

/** The Chromium the tests use: `PPAI_CHROMIUM` when set, else the packaged one. */
export async function chromiumExecutable (): Promise<string> {
  const chosen = process.env.PPAI_CHROMIUM
  if (chosen != null && chosen !== '') {
    if (!existsSync(chosen)) throw new Error(`PPAI_CHROMIUM=${chosen} does not exist`)
    return chosen
  }
  return await packagedChromium()
}

/** Starts headless Chromium with a fresh profile in `profileDir` (and `extraArgs`, e.g. `--host-resolver-rules`); a clear error when it cannot. */
export async function launchChromium (profileDir: string, viewport: { width: number, height: number }, extraArgs: string[] = []): Promise<BrowserContext> {
  const executablePath = await chromiumExecutable()
  try {
    return await chromium.launchPersistentContext(profileDir, { executablePath, headless: true, args: [...FLAGS, ...extraArgs], viewport })
  } catch (err) {
    throw new Error(`headless Chromium ${executablePath} did not start (a shared library missing? try ldd on it; PPAI_CHROMIUM picks another Chromium): ${(err as Error).message}`, { cause: err })
  }
}
