/**
 * The one place that turns backend options (flags of `ppai node`) into an
 * {@link AgentBackend}: instant, simulated personal agent, recorded trace of a
 * real model, or an OpenAI-compatible model server.
 */
import { ReasonError } from '../core/errors.js'
import { seededRng, shuffled } from '../core/rng.js'
import { loadQuestionSet, type QuestionSet } from '../data/questions.js'
import type { Logger } from '../log.js'
import type { AgentBackend } from './backend.js'
import { backendOptionsSchema, type BackendOptions, type ResolvedBackendOptions } from './backend-options.js'
import { createInstantBackend } from './instant.js'
import { createOpenAiBackend, redactUrl } from './openai.js'
import { recordedTrace, type CorrectnessModel } from './recorded-trace.js'
import { EDGE_DEVICE, type ServiceTimeParams } from './service-time.js'
import { createSimulatedBackend } from './simulated.js'
import { skillProfile, SMALL_MODEL_DEFAULTS } from './skill-profile.js'

export { addBackendOptions, backendOptionsSchema, type BackendOptions } from './backend-options.js'
export type { AgentBackend } from './backend.js'

/** Why backend options were refused. */
export type BackendConfigReason = 'invalid-options' | 'missing-url' | 'missing-model' | 'unknown-model' | 'unknown-subject'

/** Backend options that cannot make a backend, with a countable reason. */
export class BackendConfigError extends ReasonError<BackendConfigReason> {}

/** A backend and every parameter it was made with, for the node's startup log. */
export interface CreatedBackend {
  backend: AgentBackend
  params: Record<string, string | number | boolean>
}

/** Owner subjects and expert model of a personalised agent: given, or drawn from the seed and the agent's name. */
export function personalAgentChoice (set: QuestionSet, opts: Pick<ResolvedBackendOptions, 'name' | 'simSeed' | 'ownerSubjects' | 'ownerSubjectCount' | 'expertModel'>): { ownerSubjects: string[], expertModel: string } {
  const rng = seededRng(`${opts.simSeed}|${opts.name}|personal-agent`)
  let ownerSubjects: string[]
  if (opts.ownerSubjects != null && opts.ownerSubjects.trim() !== '') {
    ownerSubjects = opts.ownerSubjects.split(',').map(s => s.trim()).filter(s => s !== '')
    const unknown = ownerSubjects.filter(s => !set.subjects.includes(s))
    if (unknown.length > 0) throw new BackendConfigError('unknown-subject', `unknown subject(s) ${unknown.join(', ')} in ${set.source}; known: ${set.subjects.join(', ')}`)
  } else {
    ownerSubjects = shuffled(set.subjects, rng).slice(0, Math.min(opts.ownerSubjectCount, set.subjects.length)).sort()
  }
  const expertModel = opts.expertModel ?? set.models[Math.floor(rng() * set.models.length)]
  if (!set.models.includes(expertModel)) throw new BackendConfigError('unknown-model', `no recorded answers of ${expertModel} in ${set.source}; known: ${set.models.join(', ')}`)
  return { ownerSubjects, expertModel }
}

/**
 * Creates the backend the options ask for. Throws {@link BackendConfigError}
 * on options that cannot work (e.g. `openai` without `--backend-url`).
 * `questions` may be handed in to share one loaded set between many backends.
 */
export function createBackend (options: BackendOptions, log?: Logger, questions?: QuestionSet): CreatedBackend {
  const parsed = backendOptionsSchema.safeParse(options)
  if (!parsed.success) {
    throw new BackendConfigError('invalid-options', `backend options: ${parsed.error.issues.map(i => `--${kebab(String(i.path[0] ?? ''))}: ${i.message}`).join('; ')}`)
  }
  const o = parsed.data
  const created = build(o, questions)
  log?.info({ backend: created.backend.description, params: created.params }, 'agent backend ready')
  return created
}

function build (o: ResolvedBackendOptions, given?: QuestionSet): CreatedBackend {
  if (o.backend === 'instant') {
    return { backend: createInstantBackend({ label: o.name }), params: { kind: 'instant', label: o.name } }
  }
  if (o.backend === 'openai') {
    if (o.backendUrl == null) throw new BackendConfigError('missing-url', '--backend openai needs --backend-url (e.g. http://127.0.0.1:11434/v1 for Ollama)')
    if (o.backendModel == null) throw new BackendConfigError('missing-model', '--backend openai needs --backend-model (the model name the server knows)')
    const backend = createOpenAiBackend({ baseUrl: o.backendUrl, model: o.backendModel, apiKey: o.backendKey, timeoutMs: o.backendTimeoutMs })
    return { backend, params: { kind: 'openai', url: redactUrl(o.backendUrl), model: o.backendModel, timeoutMs: o.backendTimeoutMs, apiKey: o.backendKey == null ? 'none' : 'set' } }
  }
  const set = given ?? loadQuestionSet(o.data === 'synthetic' ? { synthetic: true } : { dataDir: o.data })
  const service: ServiceTimeParams = {
    ...EDGE_DEVICE,
    timeScale: o.timeScale,
    ...(o.tokensPerSec != null ? { tokensPerSec: o.tokensPerSec } : {}),
    ...(o.prefillTokensPerSec != null ? { prefillTokensPerSec: o.prefillTokensPerSec } : {}),
    ...(o.outputTokens != null ? { outputTokens: o.outputTokens } : {})
  }
  let model: CorrectnessModel
  let modelParams: Record<string, string | number>
  if (o.backend === 'simulated') {
    const { ownerSubjects, expertModel } = personalAgentChoice(set, o)
    const smallModelAccuracy = o.smallModelAccuracy ?? SMALL_MODEL_DEFAULTS.smallModelAccuracy
    const smallModelSubjectSpread = o.smallModelSpread ?? SMALL_MODEL_DEFAULTS.smallModelSubjectSpread
    model = skillProfile({ agentId: o.name, ownerSubjects, expertModel, smallModelAccuracy, smallModelSubjectSpread, seed: o.simSeed })
    modelParams = { kind: 'simulated personal agent', ownerSubjects: ownerSubjects.join(','), expertModel, smallModelAccuracy, smallModelSubjectSpread, simSeed: o.simSeed }
  } else {
    const traceModel = o.backend.slice('trace:'.length)
    if (!set.models.includes(traceModel)) throw new BackendConfigError('unknown-model', `no recorded answers of ${traceModel} in ${set.source}; known: ${set.models.join(', ')}`)
    model = recordedTrace(traceModel)
    modelParams = { kind: 'recorded trace', model: traceModel }
  }
  const backend = createSimulatedBackend({ questions: set, model, service })
  return { backend, params: { ...modelParams, ...backend.params } }
}

function kebab (s: string): string {
  return s.replace(/[A-Z]/g, c => '-' + c.toLowerCase())
}
