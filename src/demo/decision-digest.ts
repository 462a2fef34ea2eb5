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
  /** The same split for questions in the asking owner's own subjects (its agent's strength) and for the others. */
  ownSubjects: GroupDigest
  otherSubjects: GroupDigest
}

/** Decisions on one group of questions. */
export interface GroupDigest {
  answers: number
  /** The own agent's predicted success. */
  localSuccess?: number
  delegated: number
  accuracyLocal?: number
  accuracyDelegated?: number
}

function ratio (part: number, whole: number): number | undefined {
  return whole > 0 ? part / whole : undefined
}

function pct (x: number | undefined): string {
  return x == null ? 'n/a' : `${(100 * x).toFixed(1)}%`
}

class Group {
  answers = 0
  localSuccess = 0
  localSuccessN = 0
  delegated = 0
  right = { local: 0, localN: 0, peer: 0, peerN: 0 }

  digest (): GroupDigest {
    return {
      answers: this.answers,
      localSuccess: ratio(this.localSuccess, this.localSuccessN),
      delegated: this.answers > 0 ? this.delegated / this.answers : 0,
      accuracyLocal: ratio(this.right.local, this.right.localN),
      accuracyDelegated: ratio(this.right.peer, this.right.peerN)
    }
  }
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
  private readonly own = new Group()
  private readonly other = new Group()

  /** One answer: the node's account of it, whether it was right, whether a peer served it, whether the question is in the owner's own subjects. */
  add (result: DemoAskResult, correct: boolean, delegated: boolean, ownSubject: boolean): void {
    const g = ownSubject ? this.own : this.other
    g.answers++
    if (delegated) {
      g.delegated++
      g.right.peerN++
      if (correct) g.right.peer++
    } else {
      g.right.localN++
      if (correct) g.right.local++
    }
    const d = result.decision
    const rows = d?.explanation
    const local = rows?.find(r => r.action === 'local')
    if (d == null || rows == null || local == null) return
    g.localSuccess += local.success
    g.localSuccessN++
    const others = rows.filter(r => r.action !== 'local')
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
      // Every answer falls in one of the two groups: the run's accuracy is theirs together.
      accuracyLocal: ratio(this.own.right.local + this.other.right.local, this.own.right.localN + this.other.right.localN),
      accuracyDelegated: ratio(this.own.right.peer + this.other.right.peer, this.own.right.peerN + this.other.right.peerN),
      ownSubjects: this.own.digest(),
      otherSubjects: this.other.digest()
    }
  }
}

/** One line for the run notes. */
export function formatDigest (d: DecisionDigest): string {
  return `decisions (${d.decisions}): own agent's predicted success ${d.localSuccess.toFixed(3)}, expected ${d.localExpectedMs.toFixed(0)} ms; best candidate's scored success ${d.bestCandidateSuccess.toFixed(3)} of ${d.candidates.toFixed(1)} candidates, expected ${d.candidateExpectedMs.toFixed(0)} ms on average` +
    `${d.rivals != null ? `; expected rivals ${d.rivals.toFixed(2)}` : ''}; first choice a peer ${pct(d.chosePeer)}; accuracy of own answers ${pct(d.accuracyLocal)}, of delegated ones ${pct(d.accuracyDelegated)}` +
    `\n    ${formatGroup('questions in the owner\'s subjects', d.ownSubjects)}\n    ${formatGroup('other questions', d.otherSubjects)}`
}

function formatGroup (name: string, g: GroupDigest): string {
  return `${name} (${g.answers}): own agent's predicted success ${g.localSuccess == null ? 'n/a' : g.localSuccess.toFixed(3)}, served by a peer ${pct(g.delegated)}; accuracy of own answers ${pct(g.accuracyLocal)}, of delegated ones ${pct(g.accuracyDelegated)}`
}
