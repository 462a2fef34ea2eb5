/**
 * The files `ppai node` reads besides its flags: `--config FILE` and
 * `--seed-file FILE`, validated by the schemas of `net/frames.ts`.
 */
import { readFile } from 'node:fs/promises'
import { ReasonError } from '../core/errors.js'
import { NodeConfigFileSchema, SeedFileSchema, type NodeConfigFile } from '../net/frames.js'

/** A config file that cannot be used, with the reason. */
export class ConfigFileError extends ReasonError<'unreadable' | 'malformed' | 'invalid'> {}

/** Reads and validates `--config FILE`. */
export async function readConfigFile (path: string): Promise<NodeConfigFile> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new ConfigFileError('unreadable', `cannot read config ${path}: ${(err as Error).message}`)
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw new ConfigFileError('malformed', `config ${path} is not JSON: ${(err as Error).message}`)
  }
  const parsed = NodeConfigFileSchema.safeParse(json)
  if (!parsed.success) throw new ConfigFileError('invalid', `config ${path}: ${parsed.error.issues.map(i => `${i.path.join('.')}: ${i.message}`).join('; ')}`)
  return parsed.data
}

/** Reads and validates `--seed-file FILE`. */
export async function readSeedFile (path: string): Promise<Array<{ question: string, outcome?: number }>> {
  let json: unknown
  try {
    json = JSON.parse(await readFile(path, 'utf8'))
  } catch (err) {
    throw new ConfigFileError('malformed', `seed file ${path}: ${(err as Error).message}`)
  }
  const parsed = SeedFileSchema.safeParse(json)
  if (!parsed.success) throw new ConfigFileError('invalid', `seed file ${path}: ${parsed.error.issues.slice(0, 3).map(i => `${i.path.join('.')}: ${i.message}`).join('; ')}`)
  return parsed.data
}
