/**
 * What the demo driver reads from a node's HTTP API, as zod schemas: only the
 * fields it uses, loose elsewhere, so the API may grow without breaking it.
 */
import { z } from 'zod'

export const attemptSchema = z.looseObject({
  action: z.string(),
  status: z.enum(['ok', 'busy', 'error', 'timeout']),
  latencyMs: z.number(),
  error: z.string().optional()
})
export type DemoAttempt = z.infer<typeof attemptSchema>

/** The `ppai` field of a chat completion: the node's AskResult. */
export const askResultSchema = z.looseObject({
  id: z.string(),
  servedBy: z.string(),
  attempts: z.array(attemptSchema),
  latencyMs: z.number(),
  decision: z.looseObject({
    policy: z.string(),
    action: z.string(),
    reason: z.string().optional(),
    explanation: z.array(z.looseObject({ action: z.string(), probability: z.number(), utility: z.number(), success: z.number(), expectedLatencyMs: z.number() })).optional()
  }).optional()
})
export type DemoAskResult = z.infer<typeof askResultSchema>

/** A non-streaming chat completion with the node's extra `ppai` field. */
export const chatCompletionSchema = z.looseObject({
  choices: z.array(z.looseObject({ message: z.looseObject({ content: z.string().nullable() }) })).min(1),
  ppai: askResultSchema
})

/** An OpenAI-style error object, as the API sends on 4xx/5xx. */
export const apiErrorSchema = z.looseObject({
  error: z.looseObject({ message: z.string(), code: z.union([z.string(), z.number()]).nullish() })
})

export const statusSchema = z.looseObject({
  peerId: z.string(),
  peers: z.number(),
  backlog: z.number(),
  served: z.looseObject({ local: z.number(), remote: z.number(), refused: z.number() }).optional()
})
export type DemoStatus = z.infer<typeof statusSchema>

export const peerSummarySchema = z.looseObject({
  peerId: z.string(),
  prototypes: z.array(z.unknown()).default([]),
  profileVersion: z.number().optional()
})
/** `GET /api/peers`: a list, bare or under `peers`. */
export const peersSchema = z.union([
  z.array(peerSummarySchema),
  z.looseObject({ peers: z.array(peerSummarySchema) }).transform(o => o.peers)
])
