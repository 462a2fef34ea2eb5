/**
 * Where a policy's accuracy over staying local comes from and where it is lost,
 * in a world whose owners have interests. Every answered query of one simulated
 * run is counted by whether its subject is among the asking owner's interests
 * and by who answered it: the own agent, an expert (an agent whose owner's
 * interests hold the subject: in the `paper` world, where its expert model
 * answers) or another agent. Each counts the serving agent's true success
 * probability on the question minus the own agent's, so the rows add up to the
 * policy's expected gain over local-only on the very questions it was asked.
 *
 * A diagnosis that reads the simulator's truth after the run; no decision sees it.
 */
import type { PolicyName } from '../core/types.js'
import { simulate } from '../sim/simulator.js'
import type { SimParams, SimWorld } from '../sim/types.js'

/** Who answered a query, from the asking owner's side. */
export type GainServer = 'own' | 'expert' | 'other'

/** One cell of {@link GainSources}. */
export interface GainSource {
  /** The question's subject is among the owner's interests (`owner`) or not (`other`). */
  interest: 'owner' | 'other'
  server: GainServer
  queries: number
  /** Σ (server's true success − own agent's) over these queries, as points of the run's accuracy. */
  gainPts: number
  /** Mean true success of the server on them. */
  serverSuccess: number
}

export interface GainSources {
  policy: PolicyName
  queries: number
  /** The run's accuracy (recorded right/wrong). */
  accuracy: number
  /** The six cells, owner's interests first; each row's gainPts over all queries of the run. */
  rows: GainSource[]
  /** Σ gainPts: the expected gain over the own agents on the same questions, points. */
  totalPts: number
}

const INTERESTS: ReadonlyArray<GainSource['interest']> = ['owner', 'other']
const SERVERS: readonly GainServer[] = ['own', 'expert', 'other']

/** Runs `policy` once on `world` with `params` and splits its gain over the own agents by source. */
export function gainSources (world: SimWorld, params: SimParams, policy: PolicyName): GainSources {
  // The six cells, owner's interests first, then by server: cell = 3 · interest + server; sums until the run ends.
  const rows: GainSource[] = INTERESTS.flatMap(interest => SERVERS.map(server => ({ interest, server, queries: 0, gainPts: 0, serverSuccess: 0 })))
  const interests = world.agents.map(a => new Set(a.interests))
  let answered = 0
  const run = simulate(world, params, policy, undefined, {
    onAnswer: ({ user, servedBy, question }) => {
      answered++
      const interest = interests[user].has(question.subject) ? 0 : 1
      const server = servedBy === user ? 0 : interests[servedBy].has(question.subject) ? 1 : 2
      const p = world.agents[servedBy].model.successProbability(question)
      const row = rows[3 * interest + server]
      row.queries++
      row.serverSuccess += p
      row.gainPts += p - world.agents[user].model.successProbability(question)
    }
  })
  const n = Math.max(1, answered)
  let totalPts = 0
  for (const row of rows) {
    row.gainPts *= 100 / n
    row.serverSuccess = row.queries > 0 ? row.serverSuccess / row.queries : NaN
    totalPts += row.gainPts
  }
  return { policy, queries: answered, accuracy: run.result.accuracy, rows, totalPts }
}

/** One line: every cell as `queries → ±points (server right x%)`. */
export function formatGainSources (g: GainSources): string {
  const cell = (r: GainSource): string => `${r.server} ${r.queries} → ${r.gainPts >= 0 ? '+' : ''}${r.gainPts.toFixed(2)}${r.queries > 0 ? ` (${(100 * r.serverSuccess).toFixed(1)}%)` : ''}`
  const side = (interest: GainSource['interest']): string => g.rows.filter(r => r.interest === interest).map(cell).join(', ')
  return `${g.policy} ${(100 * g.accuracy).toFixed(2)}% over ${g.queries} queries, expected gain over the own agents ${g.totalPts >= 0 ? '+' : ''}${g.totalPts.toFixed(2)} pts: owner's-interest questions answered by ${side('owner')}; other questions by ${side('other')} (queries → points of the run, the server's true success)`
}
