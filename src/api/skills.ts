/**
 * Names an agent's prototypes for people: each prototype becomes an A2A skill
 * whose tags are the subjects and frequent terms of the reference questions
 * nearest its centroid. The hashed embedding cannot be inverted, so nearness
 * to known questions is how a centroid gets words.
 */
import type { AgentSkill } from '@a2a-js/sdk'
import { STOP_WORDS } from '../core/embedder.js'
import type { Embedder, Profile } from '../core/types.js'
import type { QuestionSet } from '../data/questions.js'

/** A question with a known subject, embedded in the network's space. */
export interface SkillReference {
  subject: string
  text: string
  embedding: Float32Array
}

/** Reference questions to name prototypes by, and where they came from. */
export interface SkillReferences {
  embedderId: string
  /** The question file, or `built-in synthetic workload`. */
  source: string
  synthetic: boolean
  items: SkillReference[]
}

/** Embeds the first `perSubject` questions of every subject (a few hundred embeddings: milliseconds). */
export function buildSkillReferences (set: QuestionSet, embedder: Embedder, perSubject = 20): SkillReferences {
  const taken = new Map<string, number>()
  const items: SkillReference[] = []
  for (const q of set.questions) {
    const n = taken.get(q.subject) ?? 0
    if (n >= perSubject) continue
    taken.set(q.subject, n + 1)
    items.push({ subject: q.subject, text: q.question, embedding: embedder.embed(q.question) })
  }
  return { embedderId: embedder.id, source: set.source, synthetic: set.synthetic, items }
}

export interface SkillOptions {
  /** Reference questions looked at per prototype. */
  neighbours?: number
  subjectsPerSkill?: number
  termsPerSkill?: number
}

/** `college_physics` → `College physics`. */
export function humaniseSubject (subject: string): string {
  const words = subject.replace(/_/g, ' ')
  return words.charAt(0).toUpperCase() + words.slice(1)
}

function cosine (a: Float32Array, b: Float32Array): number {
  let ab = 0
  let aa = 0
  let bb = 0
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i]
    aa += a[i] * a[i]
    bb += b[i] * b[i]
  }
  return aa === 0 || bb === 0 ? 0 : ab / Math.sqrt(aa * bb)
}

function topKeys (weights: Map<string, number>, k: number): string[] {
  return [...weights.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, k).map(e => e[0])
}

/**
 * One skill per prototype: name and tags from the nearest reference
 * questions' subjects and terms, description with the prototype's evidence.
 * Without usable references (another embedding space, no questions) a skill
 * still has a name, a description and tags, saying what is known.
 */
export function deriveSkills (profile: Profile, refs: SkillReferences | undefined, opts: SkillOptions = {}): AgentSkill[] {
  const neighbours = opts.neighbours ?? 12
  const usable = refs != null && refs.embedderId === profile.embedderId && refs.items.length > 0 ? refs : undefined
  const origin = usable == null ? '' : usable.synthetic ? ' (subjects of the built-in synthetic workload)' : ' (MMLU-Redux subjects)'
  if (profile.prototypes.length === 0) {
    // A new agent has no history yet: say so rather than claim a speciality.
    return [{ id: 'general', name: 'General questions', description: 'Answers questions with its own agent or delegates them; no expertise profile yet (no answered or seeded questions).', tags: ['general', profile.embedderId], examples: [], inputModes: ['text/plain'], outputModes: ['text/plain'], securityRequirements: [] }]
  }
  return profile.prototypes.map((p, i) => {
    const quality = p.alpha / (p.alpha + p.beta)
    const evidence = `${Math.round(p.count)} queries summarised, estimated success ${quality.toFixed(2)} (Beta ${p.alpha.toFixed(1)}/${p.beta.toFixed(1)})`
    const base = { id: `prototype-${i}`, inputModes: ['text/plain'], outputModes: ['text/plain'], securityRequirements: [] }
    if (usable == null) {
      return { ...base, name: `Prototype ${i + 1}`, description: `Expertise prototype ${i + 1}: ${evidence}; no reference questions in ${profile.embedderId} to name it.`, tags: [`prototype-${i}`, profile.embedderId], examples: [] }
    }
    const near = usable.items
      .map(r => ({ r, s: cosine(p.centroid, r.embedding) }))
      .sort((a, b) => b.s - a.s)
      .slice(0, neighbours)
    const subjects = new Map<string, number>()
    const terms = new Map<string, number>()
    for (const { r, s } of near) {
      subjects.set(r.subject, (subjects.get(r.subject) ?? 0) + Math.max(s, 0))
      for (const w of new Set(r.text.toLowerCase().match(/[a-z][a-z-]{3,}/g) ?? [])) {
        if (!STOP_WORDS.has(w)) terms.set(w, (terms.get(w) ?? 0) + 1)
      }
    }
    const topSubjects = topKeys(subjects, opts.subjectsPerSkill ?? 3)
    const topTerms = topKeys(terms, opts.termsPerSkill ?? 5)
    // A second subject joins the name only when it is nearly as close as the first.
    const w = topSubjects.map(t => subjects.get(t) ?? 0)
    const name = (w.length > 1 && w[1] >= 0.6 * w[0] ? topSubjects.slice(0, 2) : topSubjects.slice(0, 1)).map(humaniseSubject).join(' & ')
    return {
      ...base,
      name,
      description: `Expertise prototype ${i + 1}: ${evidence}. Nearest subjects${origin}: ${topSubjects.map(humaniseSubject).join(', ')}; frequent terms: ${topTerms.join(', ')}.`,
      tags: [...topSubjects, ...topTerms],
      examples: near.slice(0, 2).map(n => n.r.text.length > 160 ? n.r.text.slice(0, 157) + '...' : n.r.text)
    }
  })
}
