/**
 * Bearer-token access: optional on loopback, required anywhere else.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { isIP } from 'node:net'
import type { MiddlewareHandler } from 'hono'
import { ApiError } from './errors.js'

/** True for addresses only this machine can reach: 127.0.0.0/8, ::1, `localhost`. */
export function isLoopbackHost (host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase()
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true
  if (h.startsWith('::ffff:')) return isLoopbackHost(h.slice(7))
  return isIP(h) === 4 && h.startsWith('127.')
}

/** Compares digests so the time taken does not reveal how much of the token matched. */
function sameToken (given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest()
  const b = createHash('sha256').update(expected).digest()
  return timingSafeEqual(a, b)
}

/** Rejects requests without `Authorization: Bearer <token>` with a 401 (no-op when no token is set). */
export function requireBearer (token: string | undefined): MiddlewareHandler {
  return async (c, next) => {
    if (token == null) return await next()
    const header = c.req.header('authorization') ?? ''
    const match = /^Bearer\s+(.+)$/i.exec(header)
    if (match == null || !sameToken(match[1].trim(), token)) {
      c.header('WWW-Authenticate', 'Bearer realm="ppai"')
      throw new ApiError('unauthorized', match == null ? 'missing bearer token (Authorization: Bearer <token>)' : 'wrong bearer token')
    }
    await next()
  }
}
