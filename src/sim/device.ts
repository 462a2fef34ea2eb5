/**
 * Service time on an edge device: a fixed prefill plus the output tokens at
 * the device's decoding speed, one request at a time (concurrency 1).
 */

/** Parameters of the device service model. */
export interface DeviceParams {
  /** Prompt processing time per request, ms. */
  prefillMs: number
  /** Output tokens per answer: uniform integer in [min, max]. */
  outputTokensMin: number
  outputTokensMax: number
  /** Decoding speed per device: uniform in [min, max] tokens per second. */
  tokensPerSecMin: number
  tokensPerSecMax: number
}

/** Service time of one answer of `outputTokens` on a device decoding at `tokensPerSec`. */
export function serviceTimeMs (params: DeviceParams, tokensPerSec: number, outputTokens: number): number {
  return params.prefillMs + outputTokens / tokensPerSec * 1000
}

/** Mean service time on a device decoding at `tokensPerSec`. */
export function meanServiceTimeMs (params: DeviceParams, tokensPerSec: number): number {
  return serviceTimeMs(params, tokensPerSec, (params.outputTokensMin + params.outputTokensMax) / 2)
}

/** A device's decoding speed from a uniform draw `u` in [0, 1). */
export function deviceSpeed (params: DeviceParams, u: number): number {
  return params.tokensPerSecMin + (params.tokensPerSecMax - params.tokensPerSecMin) * u
}

/** Output tokens of one answer from a uniform draw `u` in [0, 1). */
export function outputTokens (params: DeviceParams, u: number): number {
  return params.outputTokensMin + Math.floor(u * (params.outputTokensMax - params.outputTokensMin + 1))
}
