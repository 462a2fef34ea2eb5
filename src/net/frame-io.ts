/**
 * Frames of the query protocol on a libp2p stream (query-protocol.ts): one
 * or successive length-prefixed frames (it-length-prefixed) under a size
 * cap, parsed as UTF-8 JSON, and the reasons a frame is refused.
 */
import * as lp from 'it-length-prefixed'
import type { Stream } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'
import { RejectionError } from '../core/errors.js'
import { MAX_FRAME_BYTES } from './frames.js'

export const QUERY_REJECT_REASONS = ['oversize', 'malformed', 'invalid', 'empty', 'read-timeout'] as const
/** Why an incoming query frame was refused before it reached the queue. */
export type QueryRejectReason = (typeof QUERY_REJECT_REASONS)[number]

/** A frame that could not be read or did not pass its schema. */
export class FrameError extends RejectionError<QueryRejectReason> {}

/** Reads exactly one length-prefixed frame, capped at `maxBytes`. */
export async function readFrame (stream: Stream, maxBytes: number = MAX_FRAME_BYTES): Promise<Uint8Array> {
  try {
    for await (const frame of lp.decode(stream, { maxDataLength: maxBytes })) {
      return frame.subarray()
    }
  } catch (err) {
    throw asFrameError(err, maxBytes)
  }
  throw new FrameError('empty', 'stream ended before a frame')
}

export function parseJson (bytes: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch (err) {
    throw new FrameError('malformed', (err as Error).message.slice(0, 200))
  }
}

/** Successive length-prefixed frames of one stream (a session reads many; `readFrame` reads one). */
export class FrameReader {
  private readonly frames: AsyncIterator<Uint8ArrayList | Uint8Array>

  constructor (stream: Stream, private readonly maxBytes: number = MAX_FRAME_BYTES) {
    this.frames = lp.decode(stream, { maxDataLength: maxBytes })[Symbol.asyncIterator]()
  }

  /** The next frame, or undefined when the stream has ended. */
  async next (): Promise<Uint8Array | undefined> {
    try {
      const r = await this.frames.next()
      return r.done === true ? undefined : r.value.subarray()
    } catch (err) {
      throw asFrameError(err, this.maxBytes)
    }
  }
}

function asFrameError (err: unknown, maxBytes: number): unknown {
  const e = err as Error & { code?: string }
  if (e.name === 'InvalidDataLengthError' || e.code === 'ERR_MSG_DATA_TOO_LONG' || /too long|data length/i.test(e.message)) {
    return new FrameError('oversize', `frame over ${maxBytes} bytes`)
  }
  return err
}

/** Bytes of a text in UTF-8. */
export function utf8Length (text: string): number {
  return new TextEncoder().encode(text).length
}

/** Cuts a text to at most `maxBytes` of UTF-8 (an answer must fit in one frame, whatever its script). */
export function truncateUtf8 (text: string, maxBytes: number): string {
  const bytes = new TextEncoder().encode(text)
  if (bytes.length <= maxBytes) return text
  // fatal: false drops a character cut in half at the end.
  return new TextDecoder('utf-8', { fatal: false }).decode(bytes.subarray(0, maxBytes)).replace(/\uFFFD$/, '')
}
