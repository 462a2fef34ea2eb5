import { buildScenario, scenarioDefaults, type BuiltScenario, type ScenarioParams } from '../../src/bench/scenarios.js'
import { syntheticQuestionSet } from '../../src/data/questions.js'

/** A small paper-like scenario on the built-in synthetic set (fast, independent of the data folder). */
export function smallScenario (edit: (p: ScenarioParams) => void = () => {}): { params: ScenarioParams, built: BuiltScenario } {
  const params = scenarioDefaults('paper')
  params.agents.agents = 16
  params.sim.queries = 1500
  edit(params)
  return { params, built: buildScenario(syntheticQuestionSet(params.sim.seed), params) }
}
