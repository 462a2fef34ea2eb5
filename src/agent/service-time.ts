/**
 * The simulated device's service time: reading the prompt (prefill) plus
 * writing the answer (output tokens / tokens per second), the same shape as
 * the simulator's device model, scaled by `timeScale` so a demo runs in
 * seconds instead of minutes while keeping the ratios between agents.
 */

export interface ServiceTimeParams {
  /** Prompt tokens read per second (prefill). */
  prefillTokensPerSec: number
  /** Output tokens written per answer. */
  outputTokens: number
  /** Output tokens written per second (decode). */
  tokensPerSec: number
  /** Multiplies every service time: 1 = real time, 0.02 = fifty times faster. */
  timeScale: number
  /** Characters per prompt token, to count the prompt without a tokenizer. */
  charsPerToken: number
}

/**
 * A small model (~3B, 4-bit) on a laptop CPU: prefill 200 tokens/s, decode
 * 20 tokens/s, 32 output tokens (a letter and a short reason). Named defaults,
 * printed by every backend that uses them.
 */
export const EDGE_DEVICE: ServiceTimeParams = {
  prefillTokensPerSec: 200,
  outputTokens: 32,
  tokensPerSec: 20,
  timeScale: 1,
  charsPerToken: 4
}

/** Service time in ms of one prompt of `promptChars` characters, scaled. */
export function serviceTimeMs (promptChars: number, p: ServiceTimeParams): number {
  const promptTokens = Math.ceil(promptChars / p.charsPerToken)
  const seconds = promptTokens / p.prefillTokensPerSec + p.outputTokens / p.tokensPerSec
  return seconds * 1000 * p.timeScale
}
