import type OpenAI from 'openai'

/**
 * Streams a chat completion of `model` from `client` and aborts the request
 * once `pieces` non-empty pieces have arrived, as a client that goes away
 * mid-stream does; resolves with the number of pieces read.
 */
export async function readThenGoAway (client: OpenAI, model: string, pieces: number): Promise<number> {
  const gone = new AbortController()
  const stream = await client.chat.completions.create({ model, stream: true, messages: [{ role: 'user', content: 'a long one' }] }, { signal: gone.signal })
  let read = 0
  await (async () => {
    for await (const chunk of stream) {
      if ((chunk.choices[0]?.delta?.content ?? '') !== '') read++
      if (read === pieces) gone.abort()
    }
  })().catch(() => {})
  return read
}
