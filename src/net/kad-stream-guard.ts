/**
 * A libp2p service that stops kad-dht from keeping every inbound DHT stream
 * alive after it is done.
 *
 * kad-dht 16's inbound handler hangs a listener that captures the stream on an
 * `AbortSignal.timeout(incomingMessageTimeout)` (10 s) and, when it rejects a
 * message (e.g. a record that fails our validator) or after the stream ends,
 * never removes it. Node keeps a timeout signal with listeners alive until it
 * fires, so each stream — yamux state, buffers, listeners: ~11 KB — stayed on
 * the heap 10 s after it closed: a flood of junk PUT_VALUEs (~1,000/s from one
 * peer on loopback) held ~100 MB. The guard re-registers kad-dht's handler so
 * that it sees a stand-in for the stream that lets go of the real one as soon
 * as the handler returns; what the timer still holds is the stand-in (~1 KB).
 * (libp2p's `use()` middleware would be the public way to swap the stream, but
 * in libp2p 3.3 every inbound stream appends to the registered middleware
 * array, so it is not used.)
 */
import type { Connection, Stream, StreamHandler, StreamHandlerOptions, StreamHandlerRecord, Startable } from '@libp2p/interface'

/** The part of libp2p's registrar the guard uses. */
interface HandlerRegistrar {
  getHandler: (protocol: string) => StreamHandlerRecord
  handle: (protocol: string, handler: StreamHandler, options?: StreamHandlerOptions) => Promise<void>
}

/** How many inbound streams were handed to the wrapped handler and how many are still attached. */
export interface KadStreamGuardStats {
  handled: number
  attached: number
}

/** The service: wraps the handler of `protocol` once every service has started. */
export class KadStreamGuard implements Startable {
  private readonly registrar: HandlerRegistrar
  private readonly protocol: string
  private handled = 0
  private attached = 0

  constructor (components: { registrar: HandlerRegistrar }, protocol: string) {
    this.registrar = components.registrar
    this.protocol = protocol
  }

  /** Streams handled so far and streams whose handler has not returned yet. */
  stats (): KadStreamGuardStats {
    return { handled: this.handled, attached: this.attached }
  }

  start (): void {}

  /** kad-dht registers its handler in its own start(): by afterStart it is there to wrap. */
  async afterStart (): Promise<void> {
    let record: StreamHandlerRecord
    try {
      record = this.registrar.getHandler(this.protocol)
    } catch {
      // kad-dht in client mode serves nothing: there is no handler to guard.
      return
    }
    await this.registrar.handle(this.protocol, this.wrap(record.handler), { ...record.options, force: true })
  }

  stop (): void {}

  private wrap (handler: StreamHandler): StreamHandler {
    return async (stream: Stream, connection: Connection): Promise<void> => {
      const { proxy, detach } = detachable(stream)
      this.handled++
      this.attached++
      try {
        await handler(proxy, connection)
      } finally {
        this.attached--
        detach()
      }
    }
  }
}

/** The libp2p service factory of the guard on `protocol`. */
export function kadStreamGuard (protocol: string): (components: { registrar: HandlerRegistrar }) => KadStreamGuard {
  return components => new KadStreamGuard(components, protocol)
}

/** Properties of a stream copied at detach time, so a late reader still sees a closed stream. */
const SNAPSHOT = ['id', 'protocol', 'direction', 'status', 'readStatus', 'writeStatus', 'remoteReadStatus', 'remoteWriteStatus'] as const

/** The stream's logger is not kept (its debug instances weigh ~1 KB): a detached stream logs nothing. */
const silentLog: (...args: unknown[]) => void = Object.assign(() => {}, { enabled: false, error: () => {}, trace: () => {}, newScope: () => silentLog })

/**
 * A stand-in that forwards to `stream` until `detach()`, then holds no
 * reference to it: reads see the stream's last state, and calls (a late
 * abort on timeout) do nothing.
 */
export function detachable (stream: Stream): { proxy: Stream, detach: () => void } {
  let target: Stream | undefined = stream
  let snapshot: Record<string, unknown> | undefined
  const proxy = new Proxy({}, {
    get (_, prop) {
      if (target == null) {
        if (typeof prop === 'string' && snapshot != null && prop in snapshot) return snapshot[prop]
        if (prop === 'log') return silentLog
        if (prop === 'close') return async () => {}
        if (prop === 'send') return () => false
        return () => undefined
      }
      const v: unknown = Reflect.get(target, prop, target)
      // Prototype methods run on the real stream (private fields); own function properties such as `log` are returned as they are.
      return typeof v === 'function' && !Object.hasOwn(target, prop) ? (v as (...args: unknown[]) => unknown).bind(target) : v
    },
    set (_, prop, value) {
      return target == null ? true : Reflect.set(target, prop, value, target)
    },
    has (_, prop) {
      return target == null ? snapshot != null && prop in snapshot : prop in target
    }
  }) as Stream
  return {
    proxy,
    detach: () => {
      if (target == null) return
      const t = target as unknown as Record<string, unknown>
      snapshot = Object.fromEntries(SNAPSHOT.map(k => [k, t[k]]))
      target = undefined
    }
  }
}
