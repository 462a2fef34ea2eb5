/** Waits until `cond` holds, checking every `everyMs`; throws "timed out waiting for <what>" after `ms`. */
export async function until (cond: () => boolean | Promise<boolean>, ms: number, what: string, everyMs = 50): Promise<void> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (await cond()) return
    await new Promise(resolve => setTimeout(resolve, everyMs))
  }
  throw new Error(`timed out waiting for ${what}`)
}
