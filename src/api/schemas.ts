/**
 * Every HTTP body and query the API accepts, as zod schemas: handlers only
 * see values that passed these. Unknown OpenAI fields (temperature, top_p…)
 * are accepted and ignored, as an OpenAI-compatible server must.
 */
import { z } from 'zod'

/** One part of a multi-part message; only text parts carry a question. */
const ContentPart = z.looseObject({
  type: z.string(),
  text: z.string().optional()
})

export const ChatMessage = z.looseObject({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool', 'function']),
  content: z.union([z.string(), z.array(ContentPart), z.null()]).optional()
})
export type ChatMessage = z.infer<typeof ChatMessage>

export const ChatCompletionRequest = z.looseObject({
  model: z.string().min(1, 'model is required'),
  messages: z.array(ChatMessage).min(1, 'messages must hold at least one message'),
  stream: z.boolean().nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean().nullish() }).nullish()
})
export type ChatCompletionRequest = z.infer<typeof ChatCompletionRequest>

export const FeedbackRequest = z.strictObject({
  id: z.string().min(1).max(200),
  /** 0 = wrong, 1 = right; values between are partial credit. */
  rating: z.number().min(0).max(1)
})
export type FeedbackRequest = z.infer<typeof FeedbackRequest>

export const DecisionsQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(50)
})

/** `a.b: message; c: message`, the readable summary of a failed parse. */
export function describeIssues (error: z.ZodError): string {
  return error.issues.map(i => (i.path.length > 0 ? `${i.path.join('.')}: ` : '') + i.message).join('; ')
}
