/**
 * A one-process NodeService over a real AgentBackend, for developing the API
 * before the libp2p node exists and for the dashboard demo page. Not a mock of
 * the network: it has no network; it routes every query to its own agent.
 */
import type { AgentBackend } from '../../../src/agent/backend.js'
import { createHashEmbedder } from '../../../src/core/embedder.js'
import type { Profile } from '../../../src/core/types.js'
import type { AskOptions, AskResult, DecisionRecord, NodeService, NodeStatus, PeerSummary } from '../../../src/net/service.js'

export function standaloneService (backend: AgentBackend, name = 'standalone'): NodeService & { peersList: PeerSummary[] } {
  const embedder = createHashEmbedder()
  const startedAt = Date.now()
  const events = new EventTarget()
  const decisions: DecisionRecord[] = []
  const answers = new Set<string>()
  const peersList: PeerSummary[] = []
  let n = 0
  const centroid = (text: string): Float32Array => embedder.embed(text)
  const profile: Profile = {
    embedderId: embedder.id,
    dim: embedder.dim,
    version: 1,
    prototypes: ['integral derivative matrix eigenvalue theorem', 'contract tort plaintiff statute court', 'cell gene protein enzyme dna']
      .map((t, i) => ({ centroid: centroid(t), count: 10 + i * 5, alpha: 8 - i, beta: 2 + i }))
  }
  return {
    peerId: '12D3KooWStandalone',
    name,
    peersList,
    events,
    async ask (question: string, opts: AskOptions = {}): Promise<AskResult> {
      const id = `q${++n}`
      const t0 = Date.now()
      const { text } = await backend.answer({ id, question, signal: opts.signal })
      answers.add(id)
      const latencyMs = Date.now() - t0
      const attempts = [{ action: 'local', status: 'ok' as const, latencyMs }]
      const record: DecisionRecord = {
        id,
        at: Date.now(),
        question,
        candidates: [],
        decision: { policy: 'ppai', action: 'local', fallbacks: [], explanation: [{ action: 'local', probability: 1, utility: 0.8, success: 0.8, expectedLatencyMs: 10 }], reason: 'no peers' },
        outcome: { servedBy: 'local', status: 'ok', latencyMs, attempts }
      }
      decisions.unshift(record)
      events.dispatchEvent(new CustomEvent('decision', { detail: record }))
      return { id, question, answer: text, servedBy: 'local', decision: record.decision, attempts, latencyMs }
    },
    status (): NodeStatus {
      return { peerId: '12D3KooWStandalone', name, network: 'test', embedderId: embedder.id, addresses: [], startedAt, uptimeMs: Date.now() - startedAt, peers: peersList.length, backlog: 0, served: { local: n, remote: 0, refused: 0 }, asked: { total: n, delegated: 0, failed: 0 }, agent: backend.description }
    },
    peers: () => peersList,
    decisions: (limit = 50) => decisions.slice(0, limit),
    feedback: (id: string) => answers.has(id),
    profile: () => profile
  }
}
