/**
 * The command-line flags that choose and configure a node's agent backend,
 * validated once with zod so `ppai node` and the demo agree on their meaning.
 */
import type { Command } from 'commander'
import { z } from 'zod'

/** `instant`, `simulated` (a personalised edge agent), `trace:<model>` (one real model's recorded answers) or `openai` (a model server). */
export const backendKindSchema = z.union([
  z.literal('instant'),
  z.literal('simulated'),
  z.literal('openai'),
  z.string().regex(/^trace:.+$/, 'trace:<model name>')
])

const numberFlag = z.coerce.number().refine(Number.isFinite, 'a number')

/** Validated backend options (flag names camel-cased as commander gives them). */
export const backendOptionsSchema = z.object({
  backend: backendKindSchema.default('simulated'),
  /** Agent name; seeds the simulated agent's draws. */
  name: z.string().min(1).default('ppai'),
  backendUrl: z.string().url().optional(),
  backendModel: z.string().min(1).optional(),
  backendKey: z.string().optional(),
  backendTimeoutMs: numberFlag.pipe(z.number().positive()).default(60_000),
  /** MMLU-Redux folder, or `synthetic` for the built-in set; else `PPAI_DATA`, else beside the repository, else the synthetic workload. */
  data: z.string().optional(),
  /** Comma-separated subjects the owner cares about (simulated backend); drawn from the seed when absent. */
  ownerSubjects: z.string().optional(),
  ownerSubjectCount: numberFlag.pipe(z.number().int().min(1).max(20)).default(3),
  /** The real model whose recorded answers back the owner's subjects; drawn from the seed when absent. */
  expertModel: z.string().optional(),
  smallModelAccuracy: numberFlag.pipe(z.number().min(0).max(1)).optional(),
  smallModelSpread: numberFlag.pipe(z.number().min(0).max(0.5)).optional(),
  simSeed: numberFlag.pipe(z.number().int()).default(1),
  /** Multiplies simulated service times (1 = a real small device; 0.02 = 50x faster for demos). */
  timeScale: numberFlag.pipe(z.number().min(0).max(100)).default(1),
  tokensPerSec: numberFlag.pipe(z.number().positive()).optional(),
  prefillTokensPerSec: numberFlag.pipe(z.number().positive()).optional(),
  outputTokens: numberFlag.pipe(z.number().int().positive()).optional()
})
export type BackendOptions = z.input<typeof backendOptionsSchema>
export type ResolvedBackendOptions = z.output<typeof backendOptionsSchema>

/** Adds the backend flags to a command (`ppai node` calls this; `--name` is the node's own flag). */
export function addBackendOptions (cmd: Command): Command {
  return cmd
    .option('--backend <kind>', 'agent backend: simulated | trace:<model> | openai | instant', 'simulated')
    .option('--backend-url <url>', 'openai: base URL up to /v1 (Ollama http://127.0.0.1:11434/v1, llama.cpp :8080/v1, vLLM :8000/v1)')
    .option('--backend-model <name>', 'openai: model name as the server knows it')
    .option('--backend-key <key>', 'openai: API key (bearer token), if the server wants one')
    .option('--backend-timeout-ms <ms>', 'openai: timeout of one answer, ms', '60000')
    .option('--data <dir>', 'MMLU-Redux folder for simulated agents, or "synthetic" (default: PPAI_DATA, else ../shared/data/mmlu-redux, else synthetic)')
    .option('--owner-subjects <list>', 'simulated: comma-separated subjects the owner cares about (default: drawn from --sim-seed and --name)')
    .option('--owner-subject-count <n>', 'simulated: how many owner subjects to draw', '3')
    .option('--expert-model <model>', 'simulated: real model whose recorded answers back the owner subjects (default: drawn)')
    .option('--small-model-accuracy <p>', 'simulated: accuracy of the small local model elsewhere')
    .option('--small-model-spread <d>', 'simulated: per-subject spread of the small model accuracy')
    .option('--sim-seed <n>', 'simulated: seed of the drawn owner subjects and expert model', '1')
    .option('--time-scale <x>', 'simulated: multiplies service times (1 = real small device)', '1')
    .option('--tokens-per-sec <n>', 'simulated: decode speed of the device')
    .option('--prefill-tokens-per-sec <n>', 'simulated: prefill speed of the device')
    .option('--output-tokens <n>', 'simulated: tokens written per answer')
}
