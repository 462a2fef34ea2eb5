/**
 * What the nodes' routing decisions rested on, averaged over a run: the
 * inputs a policy weighed (own agent's predicted success and expected
 * latency, the candidates' success as the policy scored it, the crowd it
 * expected) and how the answers went where it delegated and where it did
 * not. Read from each answer's `ppai.decision` (its explanation rows), so the
 * demo's decisions can be set beside the simulator's.
 */
import type { DemoAskResult } from './api-wire.js'

/** Means over the decisions of one run (undefined when no decision carried an explanation). */
export interface DecisionDigest {
  decisions: number
  /** The own agent's predicted success (mean of the estimate). */
  localSuccess: number
  /** The own agent's expected latency, ms. */
  localExpectedMs: number
  /** The best candidate's success as the policy scored it (ppai: mean plus its exploration bonus). */
  bestCandidateSuccess: number
  /** Mean over candidates of their expected latency, ms. */
  candidateExpectedMs: number
  candidates: number
  /** Expected rivals, where the reason states it (ppai). */
  rivals?: number
  /** Share of decisions whose first choice was a peer. */
  chosePeer: number
  /** Accuracy of the answers the own agent gave, and of those peers gave. */
  accuracyLocal?: number
  accuracyDelegated?: number
}

/** Accumulates decisions and outcomes of one run. */
export class DecisionDigester {
  private n = 0
  private localSuccess = 0
  private localMs = 0
  private best = 0
  private candMs = 0
  private cands = 0
  private rivals = 0
  private rivalsN = 0
  private peer = 0
  private readonly right = { local: 0, localN: 0, peer: 0, peerN: 0 }

  /** One answer: the node's account of it, whether it was right, whether a peer served it. */
  add (result: DemoAskResult, correct: boolean, delegated: boolean): void {
    if (delegated) {
      this.right.peerN++
      if (correct) this.right.peer++
    } else {
      this.right.localN++
      if (correct) this.right.local++
    }
    const d = result.decision
    const rows = d?.explanation
    if (d == null || rows == null || rows.length === 0) return
    const local = rows.find(r => r.action === 'local')
    const others = rows.filter(r => r.action !== 'local')
    if (local == null) return
    this.n++
    this.localSuccess += local.success
    this.localMs += local.expectedLatencyMs
    this.best += others.reduce((m, r) => Math.max(m, r.success), 0)
    this.candMs += others.length > 0 ? others.reduce((a, r) => a + r.expectedLatencyMs, 0) / others.length : 0
    this.cands += others.length
    if (d.action !== 'local') this.peer++
    const m = /with ([\d.]+) expected rivals/.exec(d.reason ?? '')
    if (m != null) {
      this.rivals += Number(m[1])
      this.rivalsN++
    }
  }

  digest (): DecisionDigest | undefined {
    if (this.n === 0) return undefined
    const n = this.n
    return {
      decisions: n,
      localSuccess: this.localSuccess / n,
      localExpectedMs: this.localMs / n,
      bestCandidateSuccess: this.best / n,
      candidateExpectedMs: this.candMs / n,
      candidates: this.cands / n,
      rivals: this.rivalsN > 0 ? this.rivals / this.rivalsN : undefined,
      chosePeer: this.peer / n,
      accuracyLocal: this.right.localN > 0 ? this.right.local / this.right.localN : undefined,
      accuracyDelegated: this.right.peerN > 0 ? this.right.peer / this.right.peerN : undefined
    }
  }
}

/** One line for the run notes. */
export function formatDigest (d: DecisionDigest): string {
  const pct = (x: number | undefined): string => x == null ? 'n/a' : `${(100 * x).toFixed(1)}%`
  return `decisions (${d.decisions}): own agent's predicted success ${d.localSuccess.toFixed(3)}, expected ${d.localExpectedMs.toFixed(0)} ms; best candidate's scored success ${d.bestCandidateSuccess.toFixed(3)} of ${d.candidates.toFixed(1)} candidates, expected ${d.candidateExpectedMs.toFixed(0)} ms on average` +
    `${d.rivals != null ? `; expected rivals ${d.rivals.toFixed(2)}` : ''}; first choice a peer ${pct(d.chosePeer)}; accuracy of own answers ${pct(d.accuracyLocal)}, of delegated ones ${pct(d.accuracyDelegated)}`
}
