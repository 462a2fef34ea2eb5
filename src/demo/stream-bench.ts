/**
 * Part 3 of `npm run bench:net`: time to first token of a streamed delegated
 * answer. Real `ppai node` processes with simulated agents at device speed
 * (`--time-scale 1`: prefill at 200 tokens/s, 32 output tokens at 20/s), an
 * OpenAI SDK client asking node 0 for an answer from a given peer, with
 * `stream: true` (time to the first content delta, and to the end) and
 * without (time to the whole answer), one query at a time, alternating.
 */
import OpenAI from 'openai'
import { formatQuestion } from '../agent/question-prompt.js'
import { EDGE_DEVICE, serviceTimeMs } from '../agent/service-time.js'
import { seededRng, shuffled } from '../core/rng.js'
import { loadQuestionSet, resolveDataDir } from '../data/questions.js'
import { quantile } from '../results/metrics.js'
import { benchCluster } from './cluster.js'

export interface StreamBenchParams {
  /** Node processes: one asker and the peers it delegates to, in turn. */
  nodes: number
  /** Streamed queries, and as many unstreamed (the same questions). */
  queries: number
  seed: number
}

/** The p50 and p95 of a sample, ms. */
function p50p95 (values: number[]): { p50: number, p95: number } {
  const sorted = Float64Array.from(values).sort()
  return { p50: quantile(sorted, 0.5), p95: quantile(sorted, 0.95) }
}

const f = (x: number): string => Number.isFinite(x) ? x.toFixed(0) : 'n/a'

/** Runs the part and writes its lines through `out`. */
export async function streamBench (params: StreamBenchParams, out: (s: string) => void): Promise<void> {
  const dataDir = resolveDataDir()
  const set = loadQuestionSet({ dataDir })
  const questions = shuffled(set.questions, seededRng(params.seed)).slice(0, params.queries).map(formatQuestion)
  out(`\n## part 3: streamed delegated answers, ${params.nodes} \`ppai node\` processes with simulated agents at device speed (${EDGE_DEVICE.prefillTokensPerSec} prefill tokens/s, ${EDGE_DEVICE.outputTokens} tokens at ${EDGE_DEVICE.tokensPerSec}/s, time scale 1; ${set.synthetic ? 'synthetic workload' : set.source}), the official openai SDK asking node 0 for peer:<other node>, ${params.queries} streamed and ${params.queries} unstreamed, one at a time, alternating`)
  const { cluster, dispose } = benchCluster(params.nodes, 'ppai-streambench', ['--backend', 'simulated', '--data', dataDir ?? 'synthetic', '--time-scale', '1'])
  try {
    await cluster.start()
    const counts = await cluster.waitForPeers(params.nodes - 1, 30_000)
    if (counts.some(n => !(n >= params.nodes - 1))) out(`  peers seen per node: ${counts.join(', ')} (not a full mesh: some delegations may fail)`)
    const peerIds = cluster.nodes.map(n => n.ready?.peerId ?? '')
    const client = new OpenAI({ baseURL: `${cluster.clients[0].baseUrl}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 60_000 })
    const ttft: number[] = []
    const streamedTotal: number[] = []
    const plainTotal: number[] = []
    const predicted: number[] = []
    const errors = new Map<string, number>()
    const note = (err: unknown): void => {
      const key = (err instanceof Error ? err.message : String(err)).replace(/12D3\w+/g, '<peer>').slice(0, 100)
      errors.set(key, (errors.get(key) ?? 0) + 1)
    }
    // One warm-up of each kind: connections, sessions and JIT.
    for (let k = -1; k < questions.length; k++) {
      const question = questions[Math.max(0, k)]
      const model = `peer:${peerIds[1 + (Math.max(0, k) % (params.nodes - 1))]}`
      const messages = [{ role: 'user' as const, content: question }]
      try {
        const t0 = performance.now()
        let first = Number.NaN
        const stream = await client.chat.completions.create({ model, stream: true, messages })
        for await (const chunk of stream) {
          if (Number.isNaN(first) && (chunk.choices[0]?.delta?.content ?? '') !== '') first = performance.now() - t0
        }
        const total = performance.now() - t0
        if (k >= 0) {
          ttft.push(first)
          streamedTotal.push(total)
          predicted.push(serviceTimeMs(question.length, EDGE_DEVICE))
        }
      } catch (err) {
        if (k >= 0) note(err)
      }
      try {
        const t0 = performance.now()
        await client.chat.completions.create({ model, messages })
        if (k >= 0) plainTotal.push(performance.now() - t0)
      } catch (err) {
        if (k >= 0) note(err)
      }
      if (k >= 0 && (k + 1) % 5 === 0) process.stderr.write(`  part 3: ${k + 1}/${questions.length} question pairs\n`)
    }
    const t = p50p95(ttft)
    const s = p50p95(streamedTotal)
    const p = p50p95(plainTotal)
    const service = p50p95(predicted)
    const decodeMs = 1000 * EDGE_DEVICE.outputTokens / EDGE_DEVICE.tokensPerSec
    // The simulated agent's own first token: prefill and one decode step.
    const firstToken = p50p95(questions.map(q => serviceTimeMs(q.length, EDGE_DEVICE) - decodeMs + decodeMs / EDGE_DEVICE.outputTokens))
    out(`  simulated service time of these questions: p50 ${f(service.p50)} ms, p95 ${f(service.p95)} ms; the agent's first token (prefill + one decode step) p50 ${f(firstToken.p50)} ms, p95 ${f(firstToken.p95)} ms`)
    out(`  streamed:   time to first token p50 ${f(t.p50)} ms, p95 ${f(t.p95)} ms;   total p50 ${f(s.p50)} ms, p95 ${f(s.p95)} ms   (${ttft.length} answered)`)
    out(`  unstreamed: total (the first token is the whole answer) p50 ${f(p.p50)} ms, p95 ${f(p.p95)} ms   (${plainTotal.length} answered)`)
    out(`  first token at ${f(100 * t.p50 / Math.max(1, p.p50))}% of the unstreamed answer's time (p50)`)
    if (errors.size > 0) out(`  errors: ${[...errors].map(([k, v]) => `${v}× ${k}`).join('; ')}`)
  } finally {
    await dispose()
  }
}
