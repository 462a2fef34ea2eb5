/**
 * A small network of nodes with their HTTP APIs on 127.0.0.1, for the API tests.
 */
import type { AgentBackend } from '../../../src/agent/backend.js'
import { createInstantBackend } from '../../../src/agent/instant.js'
import { startApi, type ApiOptions, type RunningApi } from '../../../src/api/server.js'
import type { NodeService } from '../../../src/net/service.js'
import { standaloneService } from './standalone-service.js'

export interface ApiNetwork {
  services: NodeService[]
  apis: RunningApi[]
  /** True when the services are real libp2p nodes. */
  real: boolean
  close(): Promise<void>
}

export interface ApiNetworkOptions {
  nodes: number
  backends?: AgentBackend[]
  api?: Partial<ApiOptions>
}

export async function startApiNetwork (opts: ApiNetworkOptions): Promise<ApiNetwork> {
  const services: NodeService[] = []
  for (let i = 0; i < opts.nodes; i++) {
    services.push(standaloneService(opts.backends?.[i] ?? createInstantBackend({ label: `node-${i}` }), `node-${i}`))
  }
  const apis = await Promise.all(services.map(s => startApi(s, { port: 0, ...opts.api })))
  return {
    services,
    apis,
    real: false,
    close: async () => { await Promise.all(apis.map(a => a.close())) }
  }
}
