/**
 * `ppai lan`: flags, validated with zod; says in one line why it cannot run
 * where namespaces cannot be made; then {@link runLan}.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { Command } from 'commander'
import { z } from 'zod'
import { DataError, repoRoot } from '../data/questions.js'
import { lanUnavailable } from './netns.js'
import { DEFAULT_LAN, runLan } from './run.js'

const int = (min: number, max: number): z.ZodType<number, string> => z.coerce.number().int().min(min).max(max) as unknown as z.ZodType<number, string>
const num = (min: number, max: number): z.ZodType<number, string> => z.coerce.number().min(min).max(max) as unknown as z.ZodType<number, string>

export const lanFlagsSchema = z.object({
  hosts: int(2, 60),
  minutes: num(0.05, 120),
  load: num(0.001, 2),
  timeScale: num(0.01, 10),
  faultEveryMs: int(1_000, 600_000),
  seed: int(0, 2 ** 31),
  seedTasks: int(0, 1_000),
  settleMs: int(1_000, 600_000),
  data: z.string().optional(),
  synthetic: z.boolean().default(false),
  json: z.string().optional(),
  quiet: z.boolean().default(false)
})

/** Registers `ppai lan`. */
export function registerLan (program: Command): void {
  program.command('lan')
    .description('a LAN on this machine: one node process per network namespace (veth pairs on a bridge, private 10.x addresses; needs root and iproute2), peers found by mDNS and the DHT alone; queries at the benchmark\'s load while links go down and up, a group is split off and healed, and nodes are killed and started; reports answered share, errors by kind, lost, latencies, time to rediscover, and ppai\'s accuracy against local-only')
    .option('--hosts <n>', 'hosts (namespaces), one node each', '6')
    .option('--minutes <m>', 'length of the query phase, minutes (fractions allowed)', '2')
    .option('--load <rho>', 'offered load per node (arrival rate x mean service time), with bursts as `ppai bench --scenario paper`', String(DEFAULT_LAN.load))
    .option('--time-scale <x>', 'multiplies the simulated agents\' service times (1 = a real small device, about 2 s a query)', String(DEFAULT_LAN.timeScale))
    .option('--fault-every-ms <ms>', 'one fault step every this many ms, in turn: a link down, up, a group split off, healed, nodes killed, started', String(DEFAULT_LAN.faultEveryMs))
    .option('--seed <n>', 'seed of owners, questions, arrivals and faults', String(DEFAULT_LAN.seed))
    .option('--seed-tasks <n>', 'owner training tasks per node that seed its profile', String(DEFAULT_LAN.seedTasks))
    .option('--settle-ms <ms>', 'longest wait for every node to find every other before the queries start', String(DEFAULT_LAN.settleMs))
    .option('--data <path>', 'MMLU-Redux folder or its questions.jsonl (else PPAI_DATA, else ../shared/data/mmlu-redux, else the synthetic workload)')
    .option('--synthetic', 'use the built-in synthetic workload even when the data is present', false)
    .option('--json <file>', 'write the report as JSON')
    .option('--quiet', 'no progress on stderr', false)
    .action(async (flags: Record<string, unknown>) => {
      const parsed = lanFlagsSchema.safeParse(flags)
      if (!parsed.success) {
        process.stderr.write(`ppai lan: ${parsed.error.issues.map(i => `--${String(i.path[0] ?? '').replace(/[A-Z]/g, c => '-' + c.toLowerCase())}: ${i.message}`).join('; ')}\n`)
        process.exitCode = 2
        return
      }
      const why = lanUnavailable()
      if (why != null) {
        process.stderr.write(`ppai lan: cannot build a LAN of namespaces here: ${why}\n`)
        process.exitCode = 1
        return
      }
      const cliPath = join(repoRoot, 'dist', 'cli.js')
      if (!existsSync(cliPath)) {
        process.stderr.write(`ppai lan: ${cliPath} is missing: build first (npm run build)\n`)
        process.exitCode = 2
        return
      }
      try {
        const report = await runLan({ ...DEFAULT_LAN, ...parsed.data, cliPath })
        if (report.lost > 0 || report.errorsAfterDeadline > 0 || report.leftovers.length > 0) process.exitCode = 1
      } catch (err) {
        if (!(err instanceof DataError) && !(err instanceof Error && err.message.startsWith('could not build the LAN'))) throw err
        process.stderr.write(`ppai lan: ${err.message}\n`)
        process.exitCode = 1
      }
    })
}
