/**
 * One query of a real-network run (soak and LAN) through a node's HTTP API,
 * and what such runs report of their queries: answered, a clear error (an
 * HTTP error with a code, before the deadline) or lost, by kind, with the
 * latencies of the answered.
 */
import { request as httpRequest } from 'node:http'
import { correctLetter, formatQuestion, parseAnswerLetter } from '../agent/question-prompt.js'
import { apiErrorSchema, chatCompletionSchema } from '../demo/api-wire.js'
import type { NodeClient } from '../demo/node-client.js'
import type { PlannedQuery } from '../demo/workload.js'
import { quantile } from '../results/metrics.js'

/** How one query ended. */
export type SoakOutcome = { kind: 'answered', latencyMs: number, attempts: number, remote: boolean, correct: boolean } |
{ kind: 'error', code: string, latencyMs: number, beforeDeadline: boolean } |
{ kind: 'lost', why: string, latencyMs: number }

/** The figures of a run's queries. */
export interface OutcomeFigures {
  issued: number
  answered: number
  answeredShare: number
  errors: number
  /** Errors by kind (the node's error code, or `http-<status>`). */
  errorsByKind: Record<string, number>
  errorsAfterDeadline: number
  lost: number
  lostByWhy: Record<string, number>
  latencyMs: { p50: number, p95: number, p99: number, max: number }
  /** Answered queries that needed a fallback (more than one attempt). */
  answeredAfterFallback: number
  /** Answered by a peer rather than the asker's own agent. */
  answeredRemotely: number
}

/** One query through a node's HTTP API (model `ppai` unless told), classified. */
export async function askOnce (client: NodeClient, pq: PlannedQuery, opts: { nodeDeadlineMs: number, lostGraceMs: number }, ask: { model?: string, token?: string } = {}): Promise<{ outcome: SoakOutcome, answerId?: string }> {
  const url = client.baseUrl.replace(/\/$/, '') + '/v1/chat/completions'
  const t0 = performance.now()
  const signal = AbortSignal.timeout(opts.nodeDeadlineMs + opts.lostGraceMs)
  let res: { status: number, ok: boolean }
  let text: string
  try {
    ;({ res, text } = await postJson(url, { model: ask.model ?? 'ppai', messages: [{ role: 'user', content: formatQuestion(pq.question) }] }, signal, ask.token))
  } catch (err) {
    const latencyMs = performance.now() - t0
    if (signal.aborted) return { outcome: { kind: 'lost', why: 'no reply by the deadline', latencyMs } }
    const cause = (err as { code?: string }).code ?? (err as Error).name
    return { outcome: { kind: 'lost', why: `connection: ${cause}`, latencyMs } }
  }
  const latencyMs = performance.now() - t0
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return { outcome: { kind: 'error', code: `http-${res.status}-not-json`, latencyMs, beforeDeadline: latencyMs <= opts.nodeDeadlineMs } }
  }
  if (!res.ok) {
    const e = apiErrorSchema.safeParse(json)
    const code = e.success && e.data.error.code != null ? String(e.data.error.code) : `http-${res.status}`
    return { outcome: { kind: 'error', code, latencyMs, beforeDeadline: latencyMs <= opts.nodeDeadlineMs } }
  }
  const parsed = chatCompletionSchema.safeParse(json)
  if (!parsed.success) return { outcome: { kind: 'error', code: 'malformed-answer', latencyMs, beforeDeadline: true } }
  const a = parsed.data
  const correct = parseAnswerLetter(a.choices[0].message.content ?? '') === correctLetter(pq.question)
  return {
    outcome: { kind: 'answered', latencyMs, attempts: a.ppai.attempts.length, remote: a.ppai.servedBy !== 'local', correct },
    answerId: a.ppai.id
  }
}

/**
 * POST on a fresh TCP connection (no keep-alive pool): a pooled idle socket
 * that the node closes just as it is reused would show as a reset here
 * without anything being wrong with the node.
 */
async function postJson (url: string, body: unknown, signal: AbortSignal, token?: string): Promise<{ res: { status: number, ok: boolean }, text: string }> {
  const payload = JSON.stringify(body)
  const headers: Record<string, string | number> = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
  if (token != null) headers.authorization = `Bearer ${token}`
  return await new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', agent: false, signal, headers }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ res: { status: res.statusCode ?? 0, ok: (res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300 }, text: Buffer.concat(chunks).toString('utf8') }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(payload)
  })
}

/** What every run of queries reports (soak and LAN): shares, errors and losses by kind, latencies of the answered. */
export function outcomeFigures (outcomes: SoakOutcome[], issued: number): OutcomeFigures {
  const answered = outcomes.filter((o): o is Extract<SoakOutcome, { kind: 'answered' }> => o.kind === 'answered')
  const errors = outcomes.filter((o): o is Extract<SoakOutcome, { kind: 'error' }> => o.kind === 'error')
  const lost = outcomes.filter((o): o is Extract<SoakOutcome, { kind: 'lost' }> => o.kind === 'lost')
  const tally = (keys: string[]): Record<string, number> => keys.reduce<Record<string, number>>((acc, k) => { acc[k] = (acc[k] ?? 0) + 1; return acc }, {})
  const lat = answered.map(o => o.latencyMs).sort((a, b) => a - b)
  const r = (x: number): number => Math.round(x)
  return {
    issued,
    answered: answered.length,
    answeredShare: issued === 0 ? 0 : answered.length / issued,
    errors: errors.length,
    errorsByKind: tally(errors.map(e => e.code)),
    errorsAfterDeadline: errors.filter(e => !e.beforeDeadline).length,
    lost: lost.length,
    lostByWhy: tally(lost.map(l => l.why)),
    latencyMs: { p50: r(quantile(lat, 0.5)), p95: r(quantile(lat, 0.95)), p99: r(quantile(lat, 0.99)), max: r(lat.at(-1) ?? NaN) },
    answeredAfterFallback: answered.filter(o => o.attempts > 1).length,
    answeredRemotely: answered.filter(o => o.remote).length
  }
}

/** Outcomes by kind, most frequent first, for the summaries. */
export function formatKinds (o: Record<string, number>): string {
  return Object.keys(o).length === 0 ? 'none' : Object.entries(o).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ')
}
