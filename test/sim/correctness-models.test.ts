import { describe, expect, it } from 'vitest'
import { recordedTrace } from '../../src/agent/recorded-trace.js'
import { skillProfile } from '../../src/agent/skill-profile.js'
import { isCorrect, syntheticQuestionSet } from '../../src/data/questions.js'

describe('correctness models', () => {
  const set = syntheticQuestionSet(5)
  const model = set.models[3]

  it('a recorded-trace agent is right exactly where its model was', () => {
    const agent = recordedTrace(model)
    for (const q of set.questions) {
      expect(agent.correct(q)).toBe(isCorrect(q, model))
      expect(agent.answer(q)).toBe(q.predictions[model])
      expect(agent.successProbability(q)).toBe(isCorrect(q, model) ? 1 : 0)
    }
  })

  it('a personalised agent answers as the expert model on its owner\'s subjects and as a small model of the named accuracy elsewhere', () => {
    const owned = [set.subjects[0], set.subjects[1]]
    const init = { agentId: 'a1', ownerSubjects: owned, expertModel: model, smallModelAccuracy: 0.6, smallModelSubjectSpread: 0, seed: 9 }
    const agent = skillProfile(init)
    let right = 0
    let elsewhere = 0
    for (const q of set.questions) {
      if (owned.includes(q.subject)) {
        expect(agent.correct(q)).toBe(isCorrect(q, model))
      } else {
        elsewhere++
        if (agent.correct(q)) right++
        expect(agent.successProbability(q)).toBe(0.6)
        expect(['A', 'B', 'C', 'D']).toContain(agent.answer(q))
      }
    }
    expect(right / elsewhere).toBeGreaterThan(0.52)
    expect(right / elsewhere).toBeLessThan(0.68)
  })

  it('gives the same answers for the same agent and seed, different ones for another agent', () => {
    const base = { ownerSubjects: [], expertModel: model, smallModelAccuracy: 0.5, smallModelSubjectSpread: 0.1, seed: 1 }
    const a = skillProfile({ ...base, agentId: 'x' })
    const b = skillProfile({ ...base, agentId: 'x' })
    const c = skillProfile({ ...base, agentId: 'y' })
    const answers = (m: typeof a): string => set.questions.map(q => m.answer(q)).join('')
    expect(answers(a)).toBe(answers(b))
    expect(answers(c)).not.toBe(answers(a))
  })
})
