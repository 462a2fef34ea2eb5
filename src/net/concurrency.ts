/**
 * Bounded parallelism for DHT work: a node announcing 64 bucket keys or
 * probing 24 must not open 64 streams at once to the same few peers (kad-dht
 * refuses more than its per-connection stream limit).
 */

/** Runs `fn` over `items` with at most `limit` calls in flight; results in input order. */
export async function mapWithConcurrency<T, R> (items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++
      results[i] = await fn(items[i], i)
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker))
  return results
}
