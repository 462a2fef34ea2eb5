/**
 * Reads a request body as JSON, turning malformed input into a typed 400.
 */
import { ApiError } from './errors.js'

/** The parsed JSON body; `invalid_json` when it is empty or not JSON. */
export async function readJsonBody (request: Request): Promise<unknown> {
  const text = await request.text()
  if (text.trim() === '') throw new ApiError('invalid_json', 'the request body is empty; send a JSON object')
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new ApiError('invalid_json', `the request body is not valid JSON: ${err instanceof Error ? err.message : String(err)}`)
  }
}
