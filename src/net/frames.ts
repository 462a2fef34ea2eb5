/**
 * Every shape PPAI puts on the wire, as zod schemas, in one place: query
 * protocol frames, load beacons, signed profile records. The stream and
 * gossip code only moves values that passed these schemas.
 */
import { z } from 'zod'

/** Protocol id of the query protocol. */
export const QUERY_PROTOCOL = '/ppai/query/1.0.0'
/**
 * Protocol id of the query session: the same frames, many requests one after
 * another on one stream, so a delegated query costs one round trip instead of
 * a stream set-up and protocol negotiation each.
 */
export const QUERY_SESSION_PROTOCOL = '/ppai/query-session/1.0.0'
/**
 * Version 1.1 of both: a request may ask for its answer streamed
 * (`stream: true`), and the server then sends the answer's pieces as `chunk`
 * frames before the one response frame. A request without `stream` is
 * served exactly as by 1.0. An asker offers 1.1 first and falls back to 1.0
 * with a peer that does not speak it.
 */
export const QUERY_STREAMING_PROTOCOL = '/ppai/query/1.1.0'
export const QUERY_SESSION_STREAMING_PROTOCOL = '/ppai/query-session/1.1.0'
/** Protocol id of the network's Kademlia DHT. */
export const KAD_PROTOCOL = '/ppai/kad/1.0.0'
/** Largest query frame accepted or sent, bytes (a question and its answer fit easily). */
export const MAX_FRAME_BYTES = 64 * 1024
/** Longest question accepted, characters. */
export const MAX_QUESTION_CHARS = 16_000
/** Longest deadline a request may carry, ms. */
export const MAX_DEADLINE_MS = 10 * 60_000

/** A network id names a PPAI network; it is part of topics and DHT keys, so it is kept to a safe alphabet. */
export const NetworkIdSchema = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'network id: 1-64 of a-z 0-9 . _ -')

/**
 * A query request. The deadline is relative (ms the asker still waits),
 * because peers' clocks are not synchronised.
 */
export const QueryRequestSchema = z.object({
  type: z.literal('query'),
  id: z.string().min(1).max(128),
  question: z.string().min(1).max(MAX_QUESTION_CHARS),
  deadlineMs: z.number().int().positive().max(MAX_DEADLINE_MS)
}).strict()
export type QueryRequest = z.infer<typeof QueryRequestSchema>

/** A request of the 1.1 protocols: a 1.0 request, or one asking for its answer in chunks. */
export const StreamingQueryRequestSchema = QueryRequestSchema.extend({
  stream: z.boolean().optional()
}).strict()
export type StreamingQueryRequest = z.infer<typeof StreamingQueryRequestSchema>

/**
 * A piece of a streamed answer (1.1 protocols, a request with `stream:
 * true`): sent in order before the response frame; the pieces of one answer
 * together hold at most {@link MAX_FRAME_BYTES} of UTF-8, like a whole answer.
 */
export const QueryChunkSchema = z.object({
  type: z.literal('chunk'),
  id: z.string().max(128),
  text: z.string().min(1).max(MAX_FRAME_BYTES)
}).strict()
export type QueryChunk = z.infer<typeof QueryChunkSchema>

const Load = {
  /** Requests queued or in service at the server when it replied. */
  backlog: z.number().int().nonnegative(),
  /** The server's mean service time, ms. */
  serviceMs: z.number().nonnegative()
}

/** The reply: an answer, a fast refusal carrying the backlog, or an error with a code. */
export const QueryResponseSchema = z.discriminatedUnion('status', [
  z.object({
    type: z.literal('response'),
    id: z.string().max(128),
    status: z.literal('ok'),
    answer: z.string().max(MAX_FRAME_BYTES),
    /** Time spent waiting in the server's queue, ms. */
    queuedMs: z.number().nonnegative(),
    /** Time the backend took, ms. */
    workMs: z.number().nonnegative(),
    ...Load
  }).strict(),
  z.object({
    type: z.literal('response'),
    id: z.string().max(128),
    status: z.literal('busy'),
    reason: z.string().max(500),
    /** The owner's predicted wait had it been admitted, ms. */
    predictedOwnerWaitMs: z.number().nonnegative(),
    ...Load
  }).strict(),
  z.object({
    type: z.literal('response'),
    id: z.string().max(128),
    status: z.literal('error'),
    code: z.string().max(64),
    message: z.string().max(2000)
  }).strict()
])
export type QueryResponse = z.infer<typeof QueryResponseSchema>

/** A load beacon as gossiped; `peerId` must be the gossip message's signer. */
export const LoadBeaconSchema = z.object({
  peerId: z.string().min(1).max(128),
  backlog: z.number().int().nonnegative().max(1_000_000),
  serviceMs: z.number().nonnegative().max(3_600_000),
  arrivalPerSec: z.number().nonnegative().max(1_000_000),
  sentAt: z.number().nonnegative()
}).strict()

/** Longest node name in a profile record: peers drop a record with a longer one. */
export const MAX_NODE_NAME_CHARS = 64

/** A node's name as `ppai node --name` and the config file take it: what a record can carry. */
export const NodeNameSchema = z.string().min(1, 'a node name cannot be empty').max(MAX_NODE_NAME_CHARS, `a node name has at most ${MAX_NODE_NAME_CHARS} characters: peers drop the records of a longer one`)

/** The signed body of a profile record (JSON, signed as the exact bytes sent). */
export const ProfileRecordBodySchema = z.object({
  kind: z.literal('ppai-profile/1'),
  peerId: z.string().min(1).max(128),
  name: z.string().max(MAX_NODE_NAME_CHARS),
  network: NetworkIdSchema,
  embedderId: z.string().min(1).max(128),
  version: z.number().int().nonnegative(),
  issuedAt: z.number().int().nonnegative(),
  expiresAt: z.number().int().nonnegative(),
  /** The encoded profile (core/profile-codec), base64. */
  profile: z.string().max(64 * 1024)
}).strict()
export type ProfileRecordBody = z.infer<typeof ProfileRecordBodySchema>

/** A profile record envelope: the body text exactly as signed, and the signature (base64). */
export const ProfileRecordEnvelopeSchema = z.object({
  body: z.string().max(96 * 1024),
  signature: z.string().max(512).optional()
}).strict()

/** The config file of `ppai node --config FILE`; flags override it. */
export const NodeConfigFileSchema = z.object({
  name: NodeNameSchema.optional(),
  network: NetworkIdSchema.optional(),
  dataDir: z.string().optional(),
  host: z.string().optional(),
  port: z.number().int().min(0).max(65535).optional(),
  bootstrap: z.array(z.string().min(1)).optional(),
  mdns: z.boolean().optional(),
  apiPort: z.number().int().min(0).max(65535).optional(),
  apiHost: z.string().optional(),
  apiToken: z.string().optional(),
  /** Origins of web pages allowed to call the API (`--api-origins`). */
  apiOrigins: z.array(z.string().min(1)).optional(),
  policy: z.string().optional(),
  backend: z.string().optional(),
  beaconIntervalMs: z.number().int().positive().optional()
}).strict()
export type NodeConfigFile = z.infer<typeof NodeConfigFileSchema>

/** `ppai node --seed-file FILE`: the owner's sample tasks, and how well the agent did on each (0..1). */
export const SeedFileSchema = z.array(z.object({
  question: z.string().min(1).max(MAX_QUESTION_CHARS),
  outcome: z.number().min(0).max(1).optional()
})).max(100_000)
