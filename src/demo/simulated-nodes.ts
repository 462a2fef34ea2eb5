/**
 * The simulated personal agents of a run of node processes (demo, soak and
 * LAN): each node's seed tasks, and the `ppai node` arguments that make it
 * its owner's agent.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { formatQuestion } from '../agent/question-prompt.js'
import { skillProfile, SMALL_MODEL_DEFAULTS } from '../agent/skill-profile.js'
import type { DemoWorkload } from './workload.js'

/** Each node's seed tasks: its owner's training questions and how its own agent does on them. */
export function writeSeedFiles (rootDir: string, workload: DemoWorkload): string[] {
  return workload.owners.map((owner, i) => {
    const model = skillProfile({ agentId: owner.name, ownerSubjects: owner.subjects, expertModel: owner.expertModel, ...SMALL_MODEL_DEFAULTS, seed: workload.params.seed })
    const file = join(rootDir, `${owner.name}.seed.json`)
    writeFileSync(file, JSON.stringify(workload.warmup[i].map(q => ({ question: formatQuestion(q), outcome: model.correct(q) ? 1 : 0 }))))
    return file
  })
}

/** The arguments of `ppai node` that make node `i` the simulated personal agent of its owner in the workload (demo, soak and LAN). */
export function simulatedAgentArgs (i: number, workload: DemoWorkload, seedFile: string, spaceFile: string, dataDir: string | undefined, opts: { seed: number, timeScale: number, logLevel: string }): string[] {
  const owner = workload.owners[i]
  return [
    '--backend', 'simulated',
    '--owner-subjects', owner.subjects.join(','),
    '--expert-model', owner.expertModel,
    '--sim-seed', String(opts.seed),
    '--time-scale', String(opts.timeScale),
    '--seed-file', seedFile,
    '--embedder', `lsa:${spaceFile}`,
    '--log-level', opts.logLevel,
    '--data', dataDir ?? 'synthetic'
  ]
}
