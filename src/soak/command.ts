/**
 * `ppai soak`: flags, validated with zod, then {@link runSoak}.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { Option, type Command } from 'commander'
import { z } from 'zod'
import { DataError, repoRoot } from '../data/questions.js'
import { OWNER_WORLDS, OWNER_WORLDS_HELP } from '../demo/workload.js'
import { DEFAULT_SOAK, runSoak } from './run.js'

const int = (min: number, max: number): z.ZodType<number, string> => z.coerce.number().int().min(min).max(max) as unknown as z.ZodType<number, string>
const num = (min: number, max: number): z.ZodType<number, string> => z.coerce.number().min(min).max(max) as unknown as z.ZodType<number, string>

/** The soak's flags as commander hands them over (strings), validated; every range is bounded. */
export const soakFlagsSchema = z.object({
  nodes: int(3, 64),
  minutes: num(0.05, 60),
  churnEveryMs: int(500, 600_000),
  load: num(0.001, 2),
  timeScale: num(0.001, 10),
  seed: int(0, 2 ** 31),
  seedTasks: int(0, 1_000),
  interests: z.enum(OWNER_WORLDS).default('domains'),
  maxInFlight: int(1, 1_000),
  startTimeoutMs: int(1_000, 300_000),
  settleMs: int(0, 300_000),
  data: z.string().optional(),
  synthetic: z.boolean().default(false),
  json: z.string().optional(),
  keep: z.boolean().default(false),
  quiet: z.boolean().default(false)
})

/** Registers `ppai soak`. */
export function registerSoak (program: Command): void {
  program.command('soak')
    .description('churn soak: a real network of node processes on 127.0.0.1, a node killed and another started every few seconds while queries flow; reports answered share, p99 latency, errors by kind and lost queries')
    .option('--nodes <n>', 'node processes', '24')
    .option('--minutes <m>', 'length of the query phase, minutes (fractions allowed, e.g. 0.5)', '5')
    .option('--churn-every-ms <ms>', 'a kill and a start every this many ms', String(DEFAULT_SOAK.churnEveryMs))
    .option('--load <rho>', 'offered load per node (arrival rate x mean service time)', String(DEFAULT_SOAK.load))
    .option('--time-scale <x>', 'multiplies the simulated agents\' service times (1 = a real small device)', String(DEFAULT_SOAK.timeScale))
    .option('--seed <n>', 'seed of owners, questions, arrivals and churn', String(DEFAULT_SOAK.seed))
    .option('--seed-tasks <n>', 'owner training tasks per node that seed its profile', String(DEFAULT_SOAK.seedTasks))
    .addOption(new Option('--interests <world>', OWNER_WORLDS_HELP).choices(OWNER_WORLDS).default('domains'))
    .option('--max-in-flight <n>', 'queries in flight at once at most (beyond: skipped and counted)', String(DEFAULT_SOAK.maxInFlight))
    .option('--start-timeout-ms <ms>', 'longest wait for one node to start', String(DEFAULT_SOAK.startTimeoutMs))
    .option('--settle-ms <ms>', 'longest wait for the first peers before the queries start', String(DEFAULT_SOAK.settleMs))
    .option('--data <path>', 'MMLU-Redux folder or its questions.jsonl (else PPAI_DATA, else ../shared/data/mmlu-redux, else the synthetic workload)')
    .option('--synthetic', 'use the built-in synthetic workload even when the data is present', false)
    .option('--json <file>', 'write the report as JSON')
    .option('--keep', 'keep the nodes\' folders and logs (printed path)', false)
    .option('--quiet', 'no progress on stderr', false)
    .action(async (flags: Record<string, unknown>) => {
      const parsed = soakFlagsSchema.safeParse(flags)
      if (!parsed.success) {
        process.stderr.write(`ppai soak: ${parsed.error.issues.map(i => `--${String(i.path[0] ?? '').replace(/[A-Z]/g, c => '-' + c.toLowerCase())}: ${i.message}`).join('; ')}\n`)
        process.exitCode = 2
        return
      }
      const cliPath = join(repoRoot, 'dist', 'cli.js')
      if (!existsSync(cliPath)) {
        process.stderr.write(`ppai soak: ${cliPath} is missing: build first (npm run build), or run \`npm run soak\`, which builds\n`)
        process.exitCode = 2
        return
      }
      const f = parsed.data
      let report
      try {
        report = await runSoak({ ...DEFAULT_SOAK, ...f, keepDir: f.keep, cliPath })
      } catch (err) {
        // No data where --data points: one clear line, not a stack.
        if (!(err instanceof DataError)) throw err
        process.stderr.write(`ppai soak: ${err.message}\n`)
        process.exitCode = 1
        return
      }
      // A lost query fails the soak: that is what it is there to catch.
      if (report.lost > 0 || report.errorsAfterDeadline > 0) process.exitCode = 1
    })
}
