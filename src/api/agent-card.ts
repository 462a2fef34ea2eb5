/**
 * The node's A2A Agent Card (`/.well-known/agent-card.json`): who it is, how
 * to reach it, and its skills, one per expertise prototype.
 */
import type { AgentCard } from '@a2a-js/sdk'
import type { NodeService } from '../net/service.js'
import { a2aInterfaces } from './a2a.js'
import { deriveSkills, type SkillReferences } from './skills.js'

export interface AgentCardOptions {
  /** The API's base URL as the client reached it, e.g. `http://127.0.0.1:8470`. */
  baseUrl: string
  /** True when the API requires a bearer token: the card says so. */
  bearer: boolean
  references?: SkillReferences
}

/** The card as the A2A SDK types it; served in the SDK's JSON form (`agentCardJson`). */
export function buildAgentCard (service: NodeService, opts: AgentCardOptions): AgentCard {
  const status = service.status()
  const bearerScheme = { bearer: { scheme: { $case: 'httpAuthSecurityScheme' as const, value: { description: 'The node\'s API token', scheme: 'Bearer', bearerFormat: 'opaque' } } } }
  return {
    name: service.name,
    description: `PPAI node ${service.peerId} on network '${status.network}': a personal agent (${status.agent}) that answers a question itself or delegates it to a peer with more expertise and spare capacity. Ask over A2A JSON-RPC or the OpenAI-compatible ${opts.baseUrl}/v1/chat/completions; model 'ppai' (the default) routes, 'local' forces this agent (A2A: message metadata.model).`,
    supportedInterfaces: a2aInterfaces(opts.baseUrl),
    provider: undefined,
    version: '0.1.0',
    documentationUrl: `${opts.baseUrl}/`,
    capabilities: { streaming: true, pushNotifications: false, extensions: [], extendedAgentCard: false },
    securitySchemes: opts.bearer ? bearerScheme : {},
    securityRequirements: opts.bearer ? [{ schemes: { bearer: { list: [] } } }] : [],
    defaultInputModes: ['text/plain'],
    defaultOutputModes: ['text/plain'],
    skills: deriveSkills(service.profile(), opts.references),
    signatures: []
  }
}
