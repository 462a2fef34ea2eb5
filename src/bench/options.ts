/**
 * The flags of `ppai bench`, validated with zod: every rejected flag says
 * which and why.
 */
import { z } from 'zod'
import { NamedError } from '../core/errors.js'
import { POLICY_NAMES, type PolicyName } from '../core/types.js'
import { SCENARIO_NAMES } from './scenarios.js'

const positiveInt = (name: string): z.ZodType<number | undefined> => z.coerce.number({ message: `--${name} must be a number` })
  .int({ message: `--${name} must be a whole number` })
  .positive({ message: `--${name} must be > 0` })
  .optional()

/** The raw flags as commander gives them. */
export const benchOptionsSchema = z.object({
  scenario: z.enum(SCENARIO_NAMES, { message: `--scenario must be one of ${SCENARIO_NAMES.join(', ')}` }),
  json: z.string().min(1).optional(),
  seed: z.coerce.number({ message: '--seed must be a number' }).int({ message: '--seed must be a whole number' }).min(0, { message: '--seed must be >= 0' }).optional(),
  agents: positiveInt('agents'),
  queries: positiveInt('queries'),
  load: z.coerce.number({ message: '--load must be a number' }).gt(0, { message: '--load must be > 0' }).max(5, { message: '--load must be <= 5' }).optional(),
  churn: z.boolean().optional(),
  data: z.string().min(1).optional(),
  synthetic: z.boolean().optional(),
  report: z.string().min(1).optional(),
  policies: z.string().optional().transform((s, ctx) => {
    if (s === undefined) return undefined
    const names = s.split(',').map(x => x.trim()).filter(x => x !== '')
    const bad = names.filter(n => !(POLICY_NAMES as readonly string[]).includes(n))
    if (bad.length > 0 || names.length === 0) {
      ctx.addIssue({ code: 'custom', message: `--policies: unknown ${bad.join(', ') || '(empty)'}; one of ${POLICY_NAMES.join(', ')}` })
      return z.NEVER
    }
    return names as PolicyName[]
  }),
  sweep: z.string().optional().transform((s, ctx) => {
    if (s === undefined) return undefined
    const loads = s.split(',').map(x => Number(x.trim()))
    if (loads.length === 0 || loads.some(l => !(l > 0 && l <= 5))) {
      ctx.addIssue({ code: 'custom', message: '--sweep must be a comma-separated list of loads in (0, 5]' })
      return z.NEVER
    }
    return loads
  }),
  sweepQueries: positiveInt('sweep-queries'),
  progress: z.boolean().optional(),
  latencyWeight: z.coerce.number({ message: '--latency-weight must be a number' }).min(0, { message: '--latency-weight must be >= 0' }).max(10, { message: '--latency-weight must be <= 10' }).optional(),
  kernelNear: z.coerce.number({ message: '--kernel-near must be a number' }).min(-1, { message: '--kernel-near must be in [-1, 1]' }).max(1, { message: '--kernel-near must be in [-1, 1]' }).optional(),
  embedder: z.enum(['topics', 'lsa', 'hash'], { message: '--embedder must be topics, lsa or hash' }).optional(),
  kernelTemperature: z.coerce.number({ message: '--kernel-temperature must be a number' }).gt(0, { message: '--kernel-temperature must be > 0' }).optional()
})

export type BenchOptions = z.output<typeof benchOptionsSchema>

/** A flag that cannot be used. */
export class BenchOptionsError extends NamedError {}

/** Validates the flags; throws {@link BenchOptionsError} naming every problem. */
export function parseBenchOptions (raw: unknown): BenchOptions {
  const parsed = benchOptionsSchema.safeParse(raw)
  if (!parsed.success) throw new BenchOptionsError(parsed.error.issues.map(i => i.message).join('; '))
  return parsed.data
}
