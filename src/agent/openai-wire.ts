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

/** The request body PPAI sends to `{base}/embeddings`: one text, plain floats (the OpenAI default is base64). */
export const embeddingRequestSchema = z.object({
  model: z.string().min(1),
  input: z.string(),
  encoding_format: z.literal('float')
})
export type EmbeddingRequest = z.infer<typeof embeddingRequestSchema>

/** The part of an embeddings response that PPAI reads: the first vector, finite numbers. */
export const embeddingResponseSchema = z.object({
  data: z.array(z.object({
    embedding: z.array(z.number().refine(Number.isFinite, 'a finite number')).min(1)
  })).min(1)
})
export type EmbeddingResponse = z.infer<typeof embeddingResponseSchema>
