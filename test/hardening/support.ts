/**
 * Helpers of the hardening tests: a bare libp2p peer that speaks the query
 * protocol byte by byte (an attacker), seeded bad frames, heap measurement.
 */
import { runInNewContext } from 'node:vm'
import { setFlagsFromString } from 'node:v8'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PeerId, PrivateKey, Stream } from '@libp2p/interface'
import * as lp from 'it-length-prefixed'
import { createHashEmbedder } from '../../src/core/embedder.js'
import type { Rng } from '../../src/core/types.js'
import { QUERY_PROTOCOL } from '../../src/net/frames.js'
import { createPpaiLibp2p, type PpaiLibp2p } from '../../src/net/libp2p.js'
import { readFrame } from '../../src/net/query-protocol.js'
import { RECORD_REJECT_REASONS } from '../../src/net/records.js'
import { RejectionCounter } from '../../src/net/rejections.js'
import { until } from '../support/until.js'
export { until }

/** A plain PPAI libp2p node (no agent, no routing): the attacker's end. */
export async function bareLibp2p (network: string, privateKey?: PrivateKey): Promise<PpaiLibp2p> {
  return await createPpaiLibp2p({ privateKey: privateKey ?? await generateKeyPair('Ed25519'), network, embedderId: createHashEmbedder().id, mdns: false, recordRejections: new RejectionCounter(RECORD_REJECT_REASONS) })
}

/**
 * Connects `from` to `to` and waits for identify: libp2p aborts a connection
 * on which more than 10 streams open before it is fully set up.
 */
export async function connectAndIdentify (from: PpaiLibp2p, to: PpaiLibp2p): Promise<void> {
  await from.dial(to.getMultiaddrs()[0])
  await until(async () => {
    try {
      return (await from.peerStore.get(to.peerId)).protocols.includes(QUERY_PROTOCOL)
    } catch {
      return false
    }
  }, 10_000, 'identify')
}

/** Heap in use after a full collection, bytes. */
export function heapAfterGc (): number {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  gc()
  gc()
  return process.memoryUsage().heapUsed
}

/** Kinds of bad frames the fuzzer sends on the query protocol. */
export const FUZZ_KINDS = ['random-bytes', 'bad-utf8', 'json-not-query', 'query-bad-field', 'query-extra-field', 'oversize-prefix', 'truncated', 'empty', 'garbage-prefix'] as const
export type FuzzKind = (typeof FUZZ_KINDS)[number]

function randomBytes (rng: Rng, n: number): Uint8Array {
  const b = new Uint8Array(n)
  for (let i = 0; i < n; i++) b[i] = Math.floor(rng() * 256)
  return b
}

const enc = new TextEncoder()
const prefixed = (payload: Uint8Array): Uint8Array => lp.encode.single(payload).subarray()

/** The raw bytes of one bad frame of `kind` (what goes on the stream before it is half-closed). */
export function badFrame (kind: FuzzKind, rng: Rng): Uint8Array {
  switch (kind) {
    case 'random-bytes':
      // '{' never starts it, so it cannot be JSON by chance.
      return prefixed(Uint8Array.from([0x00, ...randomBytes(rng, 1 + Math.floor(rng() * 300))]))
    case 'bad-utf8':
      return prefixed(Uint8Array.from([0x7b, 0xff, 0xfe, ...randomBytes(rng, Math.floor(rng() * 20)), 0x7d]))
    case 'json-not-query': {
      const values = [null, 42, 'query', [1, 2, 3], { type: 'response' }, { hello: 'world' }, true]
      return prefixed(enc.encode(JSON.stringify(values[Math.floor(rng() * values.length)])))
    }
    case 'query-bad-field': {
      const good = { type: 'query', id: `q${Math.floor(rng() * 1e6)}`, question: 'What is 2 + 2?', deadlineMs: 5000 }
      const bad = [
        { ...good, deadlineMs: -1 },
        { ...good, deadlineMs: 1e12 },
        { ...good, deadlineMs: 'soon' },
        { ...good, question: '' },
        { ...good, question: 'x'.repeat(20_000) },
        { ...good, id: '' },
        { ...good, id: 'i'.repeat(200) },
        { ...good, type: 'Query' }
      ]
      return prefixed(enc.encode(JSON.stringify(bad[Math.floor(rng() * bad.length)])))
    }
    case 'query-extra-field':
      return prefixed(enc.encode(JSON.stringify({ type: 'query', id: 'x', question: 'What is 2 + 2?', deadlineMs: 5000, __proto__x: 1, admin: true })))
    case 'oversize-prefix': {
      // Claims 1-8 MB and sends a little of it: the cap must refuse it on the prefix alone.
      const claimed = 1_000_000 + Math.floor(rng() * 7_000_000)
      const head: number[] = []
      let v = claimed
      while (v >= 0x80) { head.push((v & 0x7f) | 0x80); v = Math.floor(v / 128) }
      head.push(v)
      return Uint8Array.from([...head, ...randomBytes(rng, 64)])
    }
    case 'truncated': {
      const full = prefixed(enc.encode(JSON.stringify({ type: 'query', id: 't', question: 'What is the capital of France?', deadlineMs: 5000 })))
      return full.subarray(0, 2 + Math.floor(rng() * (full.length - 3)))
    }
    case 'empty':
      return new Uint8Array(0)
    case 'garbage-prefix':
      // A length-length overflow: ten continuation bytes.
      return Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])
  }
}

/**
 * Opens a query stream to `peer`, writes `bytes`, half-closes, and returns the
 * error code of the node's reply (`frame-<reason>`, `throttled-<reason>`), or
 * `no-reply` when the stream ended without a frame.
 */
export async function sendRaw (dialer: PpaiLibp2p, peer: PeerId, bytes: Uint8Array, timeoutMs = 10_000): Promise<string> {
  const signal = AbortSignal.timeout(timeoutMs)
  let stream: Stream
  try {
    // Optimistic protocol selection: the protocol header goes with the first bytes, one round trip fewer per frame.
    stream = await dialer.dialProtocol(peer, QUERY_PROTOCOL, { signal, negotiateFully: false })
  } catch (err) {
    return `no-stream: ${(err as Error).name}`
  }
  try {
    if (bytes.length > 0) stream.send(bytes)
    await stream.close({ signal })
    const frame = await readFrame(stream)
    const reply = JSON.parse(new TextDecoder().decode(frame)) as { status?: string, code?: string }
    return reply.status === 'error' ? String(reply.code) : String(reply.status)
  } catch (err) {
    return `no-reply: ${(err as Error).name}`
  } finally {
    stream.abort(new Error('done'))
  }
}

/** Runs `fn` on `count` items with `parallel` workers, stopping early when `deadline` passes; returns how many ran. */
export async function boundedPool (count: number, parallel: number, deadline: number, fn: (i: number) => Promise<void>): Promise<number> {
  let next = 0
  let ran = 0
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < count && Date.now() < deadline) {
      const i = next++
      await fn(i)
      ran++
    }
  }))
  return ran
}

function varint (n: number): number[] {
  const out: number[] = []
  while (n >= 0x80) { out.push((n & 0x7f) | 0x80); n = Math.floor(n / 128) }
  out.push(n)
  return out
}

function field (tag: number, bytes: Uint8Array): number[] {
  return [...varint((tag << 3) | 2), ...varint(bytes.length), ...bytes]
}

/**
 * A kad-dht PUT_VALUE message for `key` carrying `value`, protobuf-encoded by
 * hand (kad-dht does not export its codec): Message{type=1: PUT_VALUE (0),
 * key=2, record=3: Record{key=1, value=2}}.
 */
export function kadPutValue (key: Uint8Array, value: Uint8Array): Uint8Array {
  const record = Uint8Array.from([...field(1, key), ...field(2, value)])
  return Uint8Array.from([0x08, 0x00, ...field(2, key), ...field(3, record)])
}
