import { describe, expect, it } from 'vitest'
import { demoFlagsSchema } from '../../src/demo/command.js'
import { DEFAULT_WORKLOAD, planWorkload } from '../../src/demo/workload.js'
import { SUBJECT_DOMAINS } from '../../src/data/domains.js'
import { loadQuestionSet } from '../../src/data/questions.js'
import { soakFlagsSchema } from '../../src/soak/command.js'

const set = loadQuestionSet()

describe('the owners\' world of the demo and the soak', () => {
  it('is one domain per owner by default and random subjects with --interests subjects', () => {
    const domains = planWorkload(set, { ...DEFAULT_WORKLOAD, nodes: 6, queries: 20, seed: 1, churnEveryMs: 0 })
    const subjects = planWorkload(set, { ...DEFAULT_WORKLOAD, nodes: 6, queries: 20, seed: 1, churnEveryMs: 0, interests: 'subjects' })
    expect(domains.interestsSource).toMatch(/one domain per owner/)
    expect(subjects.interestsSource).toMatch(/random subjects per owner/)
    if (!set.synthetic) {
      // Every owner of the domain world cares about the subjects of exactly one domain.
      for (const o of domains.owners) expect(new Set(o.subjects.map(s => SUBJECT_DOMAINS[s])).size).toBe(1)
      expect(subjects.owners.some(o => new Set(o.subjects.map(s => SUBJECT_DOMAINS[s])).size > 1)).toBe(true)
    }
  })

  it('is a validated flag of both commands', () => {
    const base = { nodes: '4', queries: '10', policy: 'ppai', seed: '1', timeScale: '0.4', load: '0.7', churnEveryMs: '3000', seedTasks: '10', startTimeoutMs: '60000', settleMs: '0' }
    expect(demoFlagsSchema.parse(base).interests).toBe('domains')
    expect(demoFlagsSchema.parse({ ...base, interests: 'subjects' }).interests).toBe('subjects')
    expect(demoFlagsSchema.safeParse({ ...base, interests: 'planets' }).success).toBe(false)
    const soak = { nodes: '4', minutes: '1', churnEveryMs: '5000', load: '0.05', timeScale: '0.25', seed: '1', seedTasks: '10', maxInFlight: '8', startTimeoutMs: '60000', settleMs: '0', interests: 'subjects' }
    expect(soakFlagsSchema.parse(soak).interests).toBe('subjects')
  })
})
