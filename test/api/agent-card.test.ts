import type { AgentCard } from '@a2a-js/sdk'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHashEmbedder } from '../../src/core/embedder.js'
import type { Profile } from '../../src/core/types.js'
import { syntheticQuestionSet } from '../../src/data/questions.js'
import { buildSkillReferences, deriveSkills } from '../../src/api/skills.js'
import { startApiNetwork, type ApiNetwork } from './support/network.js'

describe('A2A agent card', () => {
  let net: ApiNetwork
  beforeAll(async () => { net = await startApiNetwork({ nodes: 1 }) })
  afterAll(async () => { await net?.close() })

  it('serves the required fields of an A2A card', async () => {
    const res = await fetch(`${net.apis[0].url}/.well-known/agent-card.json`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toContain('application/json')
    const card = await res.json() as AgentCard
    expect(card.name).toBe(net.services[0].name)
    expect(card.description.length).toBeGreaterThan(20)
    expect(card.version).toMatch(/^\d+\.\d+\.\d+$/)
    expect(card.supportedInterfaces[0]).toMatchObject({ url: `${net.apis[0].url}/a2a/jsonrpc`, protocolBinding: 'JSONRPC' })
    expect(card.capabilities?.streaming).toBe(true)
    expect(card.defaultInputModes).toContain('text/plain')
    expect(card.defaultOutputModes).toContain('text/plain')
    expect(Array.isArray(card.skills)).toBe(true)
  })

  it('has one named, described, tagged skill per prototype', async () => {
    const card = await (await fetch(`${net.apis[0].url}/.well-known/agent-card.json`)).json() as AgentCard
    expect(card.skills.length).toBe(net.services[0].profile().prototypes.length)
    for (const skill of card.skills) {
      expect(skill.id).toMatch(/^prototype-\d+$/)
      expect(skill.name.length).toBeGreaterThan(0)
      expect(skill.description.length).toBeGreaterThan(20)
      expect(skill.tags.length).toBeGreaterThan(0)
    }
  })
})

describe('skills from prototypes', () => {
  const embedder = createHashEmbedder()
  const set = syntheticQuestionSet(3)
  const refs = buildSkillReferences(set, embedder)
  const centroidOf = (subject: string): Float32Array => {
    const qs = set.questions.filter(q => q.subject === subject).slice(20, 40)
    const c = new Float32Array(embedder.dim)
    for (const q of qs) embedder.embed(q.question).forEach((v, i) => { c[i] += v / qs.length })
    return c
  }
  const profile: Profile = {
    embedderId: embedder.id,
    dim: embedder.dim,
    version: 1,
    prototypes: [{ centroid: centroidOf('law'), count: 20, alpha: 15, beta: 5 }, { centroid: centroidOf('astronomy'), count: 20, alpha: 4, beta: 16 }]
  }

  it('names a prototype after the subject of the questions near it', () => {
    const skills = deriveSkills(profile, refs)
    expect(skills[0].tags[0]).toBe('law')
    expect(skills[1].tags[0]).toBe('astronomy')
    expect(skills[0].name).toMatch(/^Law/)
    expect(skills[0].description).toContain('0.75')
    expect(skills[0].description).toContain('synthetic')
  })

  it('offers one general skill while the profile is empty', () => {
    const skills = deriveSkills({ ...profile, prototypes: [] }, refs)
    expect(skills.map(s => s.id)).toEqual(['general'])
    expect(skills[0].description).toContain('no expertise profile yet')
  })

  it('still describes prototypes of another embedding space, without naming subjects', () => {
    const skills = deriveSkills({ ...profile, embedderId: 'other-space-d256' }, refs)
    expect(skills.map(s => s.name)).toEqual(['Prototype 1', 'Prototype 2'])
    expect(skills[0].tags).toContain('other-space-d256')
  })
})
