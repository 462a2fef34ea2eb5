/**
 * The wire form of a {@link Profile}: versioned, little-endian, centroids
 * quantised to int8 with one float scale each (K = 8, d = 256: about 2.2 KB).
 *
 * ```
 * magic "PPAP" | format u8 | flags u8 | dim u16 | prototypes u16 | version u32 | idLength u8 | embedderId utf8
 * [flags & 1: calibration a f32 | b f32 | haa f32 | hab f32 | hbb f32]
 * per prototype: count u32 | alpha f32 | beta f32 | scale f32 | int8[dim]
 * ```
 * Format 2 added the flags and the calibration (expertise.ts); format 1 (flags 0) is still read.
 * Decoding checks everything and rejects with a {@link ProfileCodecError}
 * whose `code` names the reason, so rejected records can be counted.
 */
import { NamedError } from './errors.js'
import type { Calibration, Profile, Prototype } from './types.js'
import { normalize } from './vector.js'

/** Current format number. */
export const PROFILE_FORMAT = 2
/** Largest dimension and prototype count accepted: a bound on what a peer can make us allocate. */
export const MAX_CODEC_DIM = 4096
export const MAX_CODEC_PROTOTYPES = 64

const MAGIC = [0x50, 0x50, 0x41, 0x50] // "PPAP"
const HEADER = 4 + 1 + 1 + 2 + 2 + 4 + 1
const PROTO_HEADER = 4 + 4 + 4 + 4
const CALIBRATION_BYTES = 5 * 4

/** Why a profile could not be encoded or decoded. */
export type ProfileCodecErrorCode =
  | 'BAD_MAGIC'
  | 'BAD_VERSION'
  | 'TRUNCATED'
  | 'TRAILING_BYTES'
  | 'BAD_DIMS'
  | 'BAD_EMBEDDER_ID'
  | 'NON_FINITE'
  | 'NEGATIVE_EVIDENCE'
  | 'BAD_SCALE'

/** A rejected profile, with a countable reason. */
export class ProfileCodecError extends NamedError {
  constructor (readonly code: ProfileCodecErrorCode, message: string) {
    super(`${code}: ${message}`)
  }
}

function fail (code: ProfileCodecErrorCode, message: string): never {
  throw new ProfileCodecError(code, message)
}

function checkPrototypeNumbers (p: { count: number, alpha: number, beta: number }, i: number): void {
  if (!Number.isFinite(p.count) || !Number.isFinite(p.alpha) || !Number.isFinite(p.beta)) fail('NON_FINITE', `prototype ${i} has a non-finite count or Beta`)
  if (p.count < 0 || p.alpha < 0 || p.beta < 0) fail('NEGATIVE_EVIDENCE', `prototype ${i} has a negative count or Beta`)
}

/** Encodes a profile; throws {@link ProfileCodecError} for a profile that could not be decoded back. */
export function encodeProfile (p: Profile): Uint8Array {
  const id = new TextEncoder().encode(p.embedderId)
  if (id.length === 0 || id.length > 255) fail('BAD_EMBEDDER_ID', `embedder id must be 1-255 bytes, got ${id.length}`)
  if (!Number.isInteger(p.dim) || p.dim < 1 || p.dim > MAX_CODEC_DIM) fail('BAD_DIMS', `dim ${p.dim} outside 1..${MAX_CODEC_DIM}`)
  if (p.prototypes.length > MAX_CODEC_PROTOTYPES) fail('BAD_DIMS', `${p.prototypes.length} prototypes, at most ${MAX_CODEC_PROTOTYPES}`)
  if (!Number.isInteger(p.version) || p.version < 0 || p.version > 0xffffffff) fail('BAD_DIMS', `version ${p.version} is not a u32`)
  const cal = p.calibration
  if (cal !== undefined && ![cal.a, cal.b, cal.haa, cal.hab, cal.hbb].every(Number.isFinite)) fail('NON_FINITE', 'the calibration has a non-finite number')
  const calBytes = cal !== undefined ? CALIBRATION_BYTES : 0
  const size = HEADER + id.length + calBytes + p.prototypes.length * (PROTO_HEADER + p.dim)
  const out = new Uint8Array(size)
  const view = new DataView(out.buffer)
  out.set(MAGIC, 0)
  view.setUint8(4, PROFILE_FORMAT)
  view.setUint8(5, cal !== undefined ? 1 : 0)
  view.setUint16(6, p.dim, true)
  view.setUint16(8, p.prototypes.length, true)
  view.setUint32(10, p.version, true)
  view.setUint8(14, id.length)
  out.set(id, HEADER)
  let at = HEADER + id.length
  if (cal !== undefined) {
    [cal.a, cal.b, cal.haa, cal.hab, cal.hbb].forEach((v, i) => view.setFloat32(at + 4 * i, v, true))
    at += CALIBRATION_BYTES
  }
  p.prototypes.forEach((proto, i) => {
    checkPrototypeNumbers(proto, i)
    if (proto.centroid.length !== p.dim) fail('BAD_DIMS', `prototype ${i} has ${proto.centroid.length} dims, profile ${p.dim}`)
    let max = 0
    for (let j = 0; j < p.dim; j++) {
      const v = proto.centroid[j]
      if (!Number.isFinite(v)) fail('NON_FINITE', `prototype ${i} centroid has a non-finite component`)
      max = Math.max(max, Math.abs(v))
    }
    const scale = max / 127
    view.setUint32(at, Math.min(0xffffffff, Math.round(proto.count)), true)
    view.setFloat32(at + 4, proto.alpha, true)
    view.setFloat32(at + 8, proto.beta, true)
    view.setFloat32(at + 12, scale, true)
    at += PROTO_HEADER
    for (let j = 0; j < p.dim; j++) view.setInt8(at + j, scale === 0 ? 0 : Math.round(proto.centroid[j] / scale))
    at += p.dim
  })
  return out
}

/** Decodes and validates a profile; centroids come back unit length. */
export function decodeProfile (bytes: Uint8Array): Profile {
  if (bytes.length < 4) fail('TRUNCATED', `${bytes.length} bytes, no room for the magic`)
  for (let i = 0; i < 4; i++) if (bytes[i] !== MAGIC[i]) fail('BAD_MAGIC', 'not a PPAI profile')
  if (bytes.length < HEADER) fail('TRUNCATED', `${bytes.length} bytes, header needs ${HEADER}`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const format = view.getUint8(4)
  if (format !== PROFILE_FORMAT && format !== 1) fail('BAD_VERSION', `format ${format}, this build reads 1 and ${PROFILE_FORMAT}`)
  const flags = view.getUint8(5)
  if (flags > 1 || (format === 1 && flags !== 0)) fail('BAD_VERSION', `unknown flags ${flags}`)
  const calBytes = flags === 1 ? CALIBRATION_BYTES : 0
  const dim = view.getUint16(6, true)
  const k = view.getUint16(8, true)
  const version = view.getUint32(10, true)
  const idLength = view.getUint8(14)
  if (dim < 1 || dim > MAX_CODEC_DIM) fail('BAD_DIMS', `dim ${dim} outside 1..${MAX_CODEC_DIM}`)
  if (k > MAX_CODEC_PROTOTYPES) fail('BAD_DIMS', `${k} prototypes, at most ${MAX_CODEC_PROTOTYPES}`)
  if (idLength === 0) fail('BAD_EMBEDDER_ID', 'empty embedder id')
  const size = HEADER + idLength + calBytes + k * (PROTO_HEADER + dim)
  if (bytes.length < size) fail('TRUNCATED', `${bytes.length} bytes, ${size} announced`)
  if (bytes.length > size) fail('TRAILING_BYTES', `${bytes.length - size} bytes after the last prototype`)
  let embedderId: string
  try {
    embedderId = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(HEADER, HEADER + idLength))
  } catch {
    fail('BAD_EMBEDDER_ID', 'embedder id is not UTF-8')
  }
  const prototypes: Prototype[] = []
  let at = HEADER + idLength
  let calibration: Calibration | undefined
  if (calBytes > 0) {
    const [a, b, haa, hab, hbb] = [0, 1, 2, 3, 4].map(i => view.getFloat32(at + 4 * i, true))
    if (![a, b, haa, hab, hbb].every(Number.isFinite)) fail('NON_FINITE', 'the calibration has a non-finite number')
    if (!(haa > 0 && hbb > 0 && haa * hbb - hab * hab > 0)) fail('NEGATIVE_EVIDENCE', 'the calibration\'s information matrix is not positive definite')
    calibration = { a, b, haa, hab, hbb }
    at += calBytes
  }
  for (let i = 0; i < k; i++) {
    const count = view.getUint32(at, true)
    const alpha = view.getFloat32(at + 4, true)
    const beta = view.getFloat32(at + 8, true)
    const scale = view.getFloat32(at + 12, true)
    checkPrototypeNumbers({ count, alpha, beta }, i)
    if (!Number.isFinite(scale)) fail('NON_FINITE', `prototype ${i} has a non-finite scale`)
    if (scale < 0) fail('BAD_SCALE', `prototype ${i} has a negative scale`)
    at += PROTO_HEADER
    const centroid = new Float32Array(dim)
    for (let j = 0; j < dim; j++) centroid[j] = view.getInt8(at + j) * scale
    at += dim
    prototypes.push({ centroid: normalize(centroid), count, alpha, beta })
  }
  return calibration !== undefined ? { embedderId, dim, version, prototypes, calibration } : { embedderId, dim, version, prototypes }
}
