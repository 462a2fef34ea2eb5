/**
 * The request body limit. A declared `content-length` is checked from the
 * header alone: hono's `bodyLimit` reads `request.body`, which makes the node
 * adapter build a full WHATWG Request and stream for every request — a
 * measurable share of a query's CPU at hundreds of queries a second. Bodies of
 * undeclared length (chunked) go through hono's `bodyLimit`, which counts
 * them as they arrive.
 */
import type { Context, MiddlewareHandler } from 'hono'
import { bodyLimit } from 'hono/body-limit'

/** Refuses bodies over `maxSize` bytes with `onError`'s response. */
export function limitBody (maxSize: number, onError: (c: Context) => Response | Promise<Response>): MiddlewareHandler {
  const counted = bodyLimit({ maxSize, onError })
  return async (c, next) => {
    const method = c.req.method
    if (method === 'GET' || method === 'HEAD') return await next()
    const length = c.req.header('content-length')
    if (length != null && c.req.header('transfer-encoding') == null) {
      if (Number.parseInt(length, 10) > maxSize) return await onError(c)
      return await next()
    }
    return await counted(c, next)
  }
}
