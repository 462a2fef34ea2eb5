/**
 * `ppai demo`: flags, validated with zod, then {@link runDemo}.
 */
import { Option, type Command } from 'commander'
import { z } from 'zod'
import { POLICY_NAMES, type PolicyName } from '../core/types.js'
import { DataError } from '../data/questions.js'
import { NodeStartError } from './node-process.js'
import { DemoError, NODE_POLICIES, runDemo } from './run.js'
import { OWNER_WORLDS, OWNER_WORLDS_HELP } from './workload.js'

const intFlag = (min: number, max: number): z.ZodType<number, string> => z.coerce.number().int().min(min).max(max) as unknown as z.ZodType<number, string>

const policiesSchema = z.string().transform((s, ctx) => {
  const names = s === 'all' ? NODE_POLICIES : s.split(',').map(p => p.trim()).filter(p => p !== '')
  for (const p of names) {
    if (p === 'oracle') ctx.addIssue({ code: 'custom', message: 'oracle needs the true state of every agent, which no real node has; it runs in `ppai bench` only' })
    else if (!(POLICY_NAMES as readonly string[]).includes(p)) ctx.addIssue({ code: 'custom', message: `unknown policy ${p}; one of ${NODE_POLICIES.join(', ')} or all` })
  }
  if (names.length === 0) ctx.addIssue({ code: 'custom', message: 'no policy given' })
  return names as PolicyName[]
})

/** The demo's flags as commander hands them over (strings), validated. */
export const demoFlagsSchema = z.object({
  nodes: intFlag(2, 64),
  queries: intFlag(1, 100_000),
  churn: z.boolean().default(false),
  policy: policiesSchema,
  seed: intFlag(0, 2 ** 31),
  data: z.string().optional(),
  synthetic: z.boolean().default(false),
  json: z.string().optional(),
  timeScale: z.coerce.number().positive().max(10),
  load: z.coerce.number().positive().max(5),
  churnEveryMs: intFlag(100, 600_000),
  seedTasks: intFlag(0, 1_000),
  interests: z.enum(OWNER_WORLDS).default('domains'),
  startTimeoutMs: intFlag(1_000, 300_000),
  settleMs: intFlag(0, 300_000),
  keep: z.boolean().default(false),
  quiet: z.boolean().default(false)
})

/** Registers `ppai demo`. */
export function registerDemo (program: Command): void {
  program.command('demo')
    .description('run a real PPAI network of node processes on 127.0.0.1, drive a workload through their HTTP APIs, and print the results of every policy')
    .option('--nodes <n>', 'number of node processes', '12')
    .option('--queries <n>', 'test queries per policy', '200')
    .option('--churn', 'nodes leave (killed) and rejoin (restarted, same identity) during the run', false)
    .option('--policy <list>', `comma-separated policies, or all (${NODE_POLICIES.join(', ')})`, 'ppai,local-only,greedy')
    .option('--seed <n>', 'seed of owners, questions, arrivals and churn', '1')
    .option('--data <path>', 'MMLU-Redux folder or its questions.jsonl (else PPAI_DATA, else ../shared/data/mmlu-redux, else the synthetic workload)')
    .option('--synthetic', 'use the built-in synthetic workload even when the data is present', false)
    .option('--json <file>', 'write the results as JSON (same shape as ppai bench, plus per-run notes)')
    .option('--time-scale <x>', 'multiplies the simulated agents\' service times (1 = a real small device)', '0.4')
    .option('--load <rho>', 'offered load per node (arrival rate x mean service time)', '0.7')
    .option('--churn-every-ms <ms>', 'mean time between departures with --churn', '3000')
    .option('--seed-tasks <n>', 'owner training tasks per node that seed its profile', '150')
    .addOption(new Option('--interests <world>', OWNER_WORLDS_HELP).choices(OWNER_WORLDS).default('domains'))
    .option('--start-timeout-ms <ms>', 'longest wait for one node to start', '60000')
    .option('--settle-ms <ms>', 'longest wait for peers and profiles to spread before a run', '20000')
    .option('--keep', 'keep the nodes\' folders and logs (printed path)', false)
    .option('--quiet', 'no progress on stderr', false)
    .action(async (flags: Record<string, unknown>) => {
      const parsed = demoFlagsSchema.safeParse(flags)
      if (!parsed.success) {
        process.stderr.write(`ppai demo: ${parsed.error.issues.map(i => `--${String(i.path[0] ?? '').replace(/[A-Z]/g, c => '-' + c.toLowerCase())}: ${i.message}`).join('; ')}\n`)
        process.exitCode = 2
        return
      }
      const f = parsed.data
      try {
        await runDemo({
          nodes: f.nodes,
          queries: f.queries,
          churn: f.churn,
          policies: f.policy,
          seed: f.seed,
          data: f.data,
          synthetic: f.synthetic,
          json: f.json,
          timeScale: f.timeScale,
          load: f.load,
          churnEveryMs: f.churnEveryMs,
          seedTasks: f.seedTasks,
          interests: f.interests,
          keepDir: f.keep,
          startTimeoutMs: f.startTimeoutMs,
          settleMs: f.settleMs,
          quiet: f.quiet
        })
      } catch (err) {
        // A node that would not start, a missing build, no data where --data points: one clear line (and the node's log lines), not a stack.
        if (err instanceof DemoError || err instanceof NodeStartError || err instanceof DataError) {
          process.stderr.write(`ppai demo: ${err.message}\n`)
          process.exitCode = 1
          return
        }
        throw err
      }
    })
}
