/**
 * The live feed for the dashboard: `GET /api/events` relays the node's
 * `decision` and `beacon` events as server-sent events, with a keep-alive
 * comment so idle proxies and browsers do not drop the stream.
 */
import type { Context } from 'hono'
import { streamSSE } from 'hono/streaming'
import type { NodeService } from '../net/service.js'

/** Open feeds, so that shutting the server down ends them instead of waiting forever. */
export class FeedRegistry {
  private readonly open = new Set<AbortController>()

  add (): AbortController {
    const ac = new AbortController()
    this.open.add(ac)
    return ac
  }

  remove (ac: AbortController): void {
    this.open.delete(ac)
  }

  get size (): number {
    return this.open.size
  }

  closeAll (): void {
    for (const ac of this.open) ac.abort()
    this.open.clear()
  }
}

const RELAYED = ['decision', 'beacon'] as const

/** Streams the node's events until the client goes away or the server closes. */
export function eventFeed (c: Context, service: NodeService, feeds: FeedRegistry, keepAliveMs = 15_000): Response {
  return streamSSE(c, async stream => {
    const ac = feeds.add()
    const queue: Array<{ event: string, data: string }> = []
    let wake: (() => void) | undefined
    const listeners = RELAYED.map(type => {
      const listener = (e: Event): void => {
        // Bounded: a stalled client loses the oldest events, the node does not buffer without end.
        if (queue.length >= 1000) queue.shift()
        queue.push({ event: type, data: JSON.stringify((e as CustomEvent).detail ?? null) })
        wake?.()
      }
      service.events.addEventListener(type, listener)
      return { type, listener }
    })
    const stop = (): void => { ac.abort(); wake?.() }
    stream.onAbort(stop)
    ac.signal.addEventListener('abort', () => wake?.())
    try {
      await stream.writeSSE({ event: 'hello', data: JSON.stringify({ peerId: service.peerId, name: service.name }) })
      while (!ac.signal.aborted) {
        const next = queue.shift()
        if (next != null) {
          await stream.writeSSE(next)
          continue
        }
        await new Promise<void>(resolve => {
          const timer = setTimeout(resolve, keepAliveMs)
          wake = () => { clearTimeout(timer); wake = undefined; resolve() }
        })
        if (queue.length === 0 && !ac.signal.aborted) await stream.write(': keep-alive\n\n')
      }
    } finally {
      for (const { type, listener } of listeners) service.events.removeEventListener(type, listener)
      feeds.remove(ac)
    }
  })
}
