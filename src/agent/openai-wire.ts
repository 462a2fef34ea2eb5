/**
 * Wire shapes of the OpenAI-compatible chat completion API as PPAI uses it
 * against a model server (Ollama, llama.cpp server, vLLM): only the fields we
 * send and the fields we read; servers add many others, which are ignored.
 */
import { z } from 'zod'

/** The request body PPAI sends to `{base}/chat/completions`. */
export const chatCompletionRequestSchema = z.object({
  model: z.string().min(1),
  messages: z.array(z.object({
    role: z.enum(['system', 'user', 'assistant']),
    content: z.string()
  })).min(1),
  max_tokens: z.number().int().positive().optional(),
  temperature: z.number().min(0).optional(),
  stream: z.literal(false)
})
export type ChatCompletionRequest = z.infer<typeof chatCompletionRequestSchema>

/** The part of a (non-streaming) response that PPAI reads: the first choice's message text. */
export const chatCompletionResponseSchema = z.object({
  choices: z.array(z.object({
    message: z.object({
      // Some servers send null content together with tool calls; that is no answer for us.
      content: z.string()
    })
  })).min(1)
})
export type ChatCompletionResponse = z.infer<typeof chatCompletionResponseSchema>

/** An OpenAI-style error body, read only to quote its message in our error. */
export const errorBodySchema = z.object({
  error: z.union([z.string(), z.object({ message: z.string() })])
})
