import { describe, expect, it } from 'vitest'
import { buildScenario, scenarioDefaults } from '../../src/bench/scenarios.js'
import { CALIBRATION_PRIOR, expertiseFeature } from '../../src/core/expertise.js'
import { seededRng } from '../../src/core/rng.js'
import { loadQuestionSet, soundQuestions } from '../../src/data/questions.js'
import { QuestionPool } from '../../src/sim/workload.js'

const set = loadQuestionSet()

/** Unregularised logistic regression of `ys` on `xs` (Newton): intercept and slope. */
function logistic (xs: number[], ys: number[]): { a: number, b: number } {
  let a = 0
  let b = 0
  for (let it = 0; it < 50; it++) {
    let ga = 0; let gb = 0; let haa = 0; let hab = 0; let hbb = 0
    for (let i = 0; i < xs.length; i++) {
      const p = 1 / (1 + Math.exp(-(a + b * xs[i])))
      const w = p * (1 - p)
      ga += ys[i] - p; gb += (ys[i] - p) * xs[i]
      haa += w; hab += w * xs[i]; hbb += w * xs[i] * xs[i]
    }
    const det = haa * hbb - hab * hab
    a += (hbb * ga - hab * gb) / det
    b += (haa * gb - hab * ga) / det
  }
  return { a, b }
}

describe('the calibration prior is the population\'s mapping from the expertise feature to success', () => {
  // Only the real data has the owners' domains and the models' answers the constants were read from.
  it.skipIf(set.synthetic)('matches a pooled fit on fresh training-split questions of every agent of the paper world (seed 1)', () => {
    const p = scenarioDefaults('paper')
    const { world } = buildScenario(set, p)
    const asked = new Set(world.pool.all.map(q => q.id))
    const train = new QuestionPool(soundQuestions(set).filter(q => !asked.has(q.id)))
    const rng = seededRng('expertise-prior')
    const xs: number[] = []
    const ys: number[] = []
    for (const agent of world.agents) {
      for (let n = 0; n < 150; n++) {
        const q = train.draw(agent.interests, p.sim.ownInterestShare, rng)
        xs.push(expertiseFeature(agent.profile, world.embed(q)))
        ys.push(agent.model.correct(q) ? 1 : 0)
      }
    }
    const fit = logistic(xs, ys)
    const mean = 1 / (1 + Math.exp(-fit.a))
    console.log(`pooled fit over ${xs.length} (agent, question) pairs: success at x = 0 ${mean.toFixed(3)}, slope ${fit.b.toFixed(4)}; prior ${CALIBRATION_PRIOR.mean}, ${CALIBRATION_PRIOR.slope}`)
    expect(Math.abs(mean - CALIBRATION_PRIOR.mean)).toBeLessThan(0.04)
    expect(Math.abs(fit.b - CALIBRATION_PRIOR.slope)).toBeLessThan(0.02)
    // The feature separates: success rises with it.
    expect(fit.b).toBeGreaterThan(0.03)
  })
})
