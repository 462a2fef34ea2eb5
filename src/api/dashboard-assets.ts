/**
 * The dashboard's static files (plain HTML/CSS/JS, no build step), found from
 * `src/api` and from `dist/api` alike, and served from a fixed list so no
 * request path reaches the file system.
 */
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml'
}

/** The files the dashboard consists of. */
export const DASHBOARD_FILES = ['index.html', 'style.css', 'app.js'] as const

/** `src/api/dashboard` seen from this module in `src/api` or in `dist/api`. */
export function dashboardDir (): string {
  const beside = fileURLToPath(new URL('./dashboard/', import.meta.url))
  if (existsSync(join(beside, 'index.html'))) return beside
  return fileURLToPath(new URL('../../src/api/dashboard/', import.meta.url))
}

/** The asset for a request path, or undefined when it is not one of the dashboard's files. */
export async function dashboardAsset (path: string): Promise<{ body: string, type: string } | undefined> {
  const name = path === '/' || path === '' ? 'index.html' : path.replace(/^\//, '')
  if (!(DASHBOARD_FILES as readonly string[]).includes(name)) return undefined
  const body = await readFile(join(dashboardDir(), name), 'utf8')
  return { body, type: TYPES[name.slice(name.lastIndexOf('.'))] ?? 'application/octet-stream' }
}
