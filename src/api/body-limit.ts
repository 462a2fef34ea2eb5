/**
 * The request body limit. A declared `content-length` is checked from the
 * header alone: hono's `bodyLimit` reads `request.body`, which makes the node
 * adapter build a full WHATWG Request and stream for every request — a
 * measurable share of a query's CPU at hundreds of queries a second. Bodies of
 * undeclared length (chunked) go through hono's `bodyLimit`, which counts
 * them as they arrive. A client that asks `Expect: 100-continue` before
 * sending a body (curl does above 1 KB) is answered by {@link answerExpectContinue}
 * before any of it is sent.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
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

/** What a refused body is answered with. */
export interface BodyRefusal {
  status: number
  toBody(): unknown
}

/**
 * Answers `Expect: 100-continue` on `server`: a declared length over
 * `maxSize` gets `refuse()`'s response at once (and the connection closes, its
 * body never read), anything else `100 Continue` and the usual handling.
 * Without this listener Node sends `100 Continue` to every such request, and
 * the client uploads the whole body only to be refused.
 */
export function answerExpectContinue (server: Server, maxSize: number, refuse: () => BodyRefusal): void {
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    const length = req.headers['content-length']
    if (length != null && req.headers['transfer-encoding'] == null && Number.parseInt(length, 10) > maxSize) {
      const err = refuse()
      const body = JSON.stringify(err.toBody())
      res.writeHead(err.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), connection: 'close' })
      res.end(body)
      return
    }
    res.writeContinue()
    server.emit('request', req, res)
  })
}
