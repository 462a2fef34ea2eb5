/**
 * `ppai ask`: ask a running node through its HTTP API and say who answered
 * and why.
 */
import type { Command } from 'commander'
import type { AskResult } from '../net/service.js'

/** Registers `ppai ask`. */
export function registerAskCommand (program: Command): void {
  program.command('ask')
    .description('ask a running node (through its HTTP API); prints the answer, who served it and why')
    .argument('<question>', 'the question')
    .option('--api <url>', 'the node\'s HTTP API', process.env.PPAI_API ?? 'http://127.0.0.1:8470')
    .option('--model <model>', 'ppai (route) | local | peer:<peer id>', 'ppai')
    .option('--token <token>', 'bearer token of the API', process.env.PPAI_API_TOKEN)
    .option('--timeout-ms <ms>', 'give up after this long', '120000')
    .option('--json', 'print the whole result as JSON')
    .action(async (question: string, flags: { api: string, model: string, token?: string, timeoutMs: string, json?: boolean }) => {
      const code = await askCommand(question, flags)
      process.exitCode = code
    })
}

/** The body of `ppai ask`; returns the exit code. */
export async function askCommand (question: string, flags: { api: string, model: string, token?: string, timeoutMs: string, json?: boolean }, out: (s: string) => void = s => process.stdout.write(s), err: (s: string) => void = s => process.stderr.write(s)): Promise<number> {
  const url = flags.api.replace(/\/+$/, '') + '/v1/chat/completions'
  let res: Response
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(flags.token != null ? { authorization: `Bearer ${flags.token}` } : {}) },
      body: JSON.stringify({ model: flags.model, messages: [{ role: 'user', content: question }] }),
      signal: AbortSignal.timeout(Math.ceil(Number(flags.timeoutMs)) || 120_000)
    })
  } catch (e) {
    const cause = (e as Error & { cause?: Error }).cause?.message ?? (e as Error).message
    err(`ppai ask: cannot reach the node at ${flags.api} (${cause}). Is \`ppai node\` running? Pass its API with --api URL.\n`)
    return 2
  }
  const text = await res.text()
  let body: { error?: { message?: string, code?: string }, choices?: Array<{ message?: { content?: string } }>, ppai?: AskResult }
  try {
    body = JSON.parse(text)
  } catch {
    err(`ppai ask: ${flags.api} answered HTTP ${res.status} with a body that is not JSON: ${text.slice(0, 200)}\n`)
    return 1
  }
  if (!res.ok || body.error != null) {
    err(`ppai ask: the node refused or failed (HTTP ${res.status}, ${body.error?.code ?? 'error'}): ${body.error?.message ?? text.slice(0, 200)}\n`)
    return 1
  }
  if (flags.json === true) {
    out(JSON.stringify(body.ppai ?? body, null, 2) + '\n')
    return 0
  }
  out(formatAskResult(body.choices?.[0]?.message?.content ?? '', body.ppai))
  return 0
}

/** The human-readable report of an answer: the answer, who served it, and why. */
export function formatAskResult (answer: string, result?: AskResult): string {
  const lines = [answer, '']
  if (result == null) return lines.join('\n') + '(the node did not say who answered)\n'
  lines.push(`served by: ${result.servedBy}   latency: ${result.latencyMs} ms   answer id: ${result.id}`)
  if (result.decision != null) {
    const d = result.decision
    lines.push(`policy: ${d.policy}   chose: ${d.action}   reason: ${d.reason}`)
    if (d.fallbacks.length > 0) lines.push(`fallbacks: ${d.fallbacks.join(' → ')} → local`)
    const rows = [...d.explanation].sort((a, b) => b.probability - a.probability).slice(0, 10)
    if (rows.length > 0) {
      lines.push('  action                                                  p(choose)  success  E[latency] ms  utility')
      for (const e of rows) {
        lines.push(`  ${e.action.padEnd(54).slice(0, 54)}  ${e.probability.toFixed(3).padStart(9)}  ${e.success.toFixed(3).padStart(7)}  ${e.expectedLatencyMs.toFixed(0).padStart(13)}  ${e.utility.toFixed(3).padStart(7)}`)
      }
    }
  } else {
    lines.push('no routing decision: the model choice forced the agent')
  }
  for (const a of result.attempts) {
    lines.push(`attempt: ${a.action} → ${a.status} in ${a.latencyMs} ms${a.error != null ? ` (${a.error})` : ''}`)
  }
  return lines.join('\n') + '\n'
}
