/**
 * Questions with recorded answers of real models: the MMLU-Redux file in
 * `../shared/data/mmlu-redux` when present, else a small built-in synthetic
 * set that says it is synthetic.
 */
import { existsSync, readFileSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { NamedError } from '../core/errors.js'
import { seededRng, shuffled } from '../core/rng.js'
import type { Rng } from '../core/types.js'

export interface Question {
  /** `subject/NNN`, stable. */
  id: string
  subject: string
  question: string
  choices: string[]
  /** Index (0-3) of the ground-truth option. */
  answer: number
  /** MMLU-Redux annotation; `ok` where the question was judged sound. */
  errorType: string
  /** Model name -> the letter it answered. */
  predictions: Record<string, string>
}

export interface QuestionSet {
  /** The file read, or `built-in synthetic workload`. */
  source: string
  synthetic: boolean
  questions: Question[]
  models: string[]
  subjects: string[]
  /** Every parameter of the synthetic generator (empty for real data). */
  syntheticParams: Record<string, number | string>
}

export class DataError extends NamedError {}

const LETTERS = ['A', 'B', 'C', 'D']

/** The repository root (this file is at src/data or dist/data). */
export const repoRoot = resolve(fileURLToPath(new URL('../../', import.meta.url)))

/** The data folder (or its `questions.jsonl`): the flag, else `PPAI_DATA`, else `../shared/data/mmlu-redux` beside the repository when it exists. */
export function resolveDataDir (flag?: string): string | undefined {
  if (flag != null && flag !== '') return resolve(flag)
  const env = process.env.PPAI_DATA
  if (env != null && env !== '') return resolve(env)
  const beside = resolve(repoRoot, '../shared/data/mmlu-redux')
  return existsSync(join(beside, 'questions.jsonl')) ? beside : undefined
}

/** True when `model` answered `q` correctly (anything but the right letter is wrong). */
export function isCorrect (q: Question, model: string): boolean {
  return q.predictions[model] === LETTERS[q.answer]
}

/**
 * The questions file that `path` names: `path` itself when it is a file, else
 * `questions.jsonl` in it; a clear error when neither exists.
 */
export function questionsFilePath (path: string): string {
  const hint = '(set --data or PPAI_DATA to the mmlu-redux folder or its questions.jsonl)'
  const stat = statSync(path, { throwIfNoEntry: false })
  if (stat == null) throw new DataError(`no such folder or file: ${path} ${hint}`)
  if (stat.isFile()) return path
  const file = join(path, 'questions.jsonl')
  if (!existsSync(file)) throw new DataError(`no questions.jsonl in ${path} ${hint}`)
  return file
}

/** Reads `questions.jsonl` from a folder, or the file itself when given its path; a clear error when it is missing or malformed. */
export function loadQuestionsFile (path: string): QuestionSet {
  const file = questionsFilePath(path)
  const questions: Question[] = []
  const lines = readFileSync(file, 'utf8').split('\n')
  lines.forEach((line, i) => {
    if (line.trim() === '') return
    let q: Question
    try {
      q = JSON.parse(line) as Question
    } catch {
      throw new DataError(`${file}:${i + 1}: not JSON`)
    }
    if (typeof q.id !== 'string' || typeof q.subject !== 'string' || typeof q.question !== 'string' ||
      !Array.isArray(q.choices) || typeof q.answer !== 'number' || typeof q.predictions !== 'object') {
      throw new DataError(`${file}:${i + 1}: missing id, subject, question, choices, answer or predictions`)
    }
    questions.push(q)
  })
  const models = [...new Set(questions.flatMap(q => Object.keys(q.predictions)))].sort()
  const subjects = [...new Set(questions.map(q => q.subject))].sort()
  return { source: file, synthetic: false, questions, models, subjects, syntheticParams: {} }
}

/** Real data when found (or asked for), the synthetic set otherwise. */
export function loadQuestionSet (opts: { dataDir?: string, synthetic?: boolean, seed?: number } = {}): QuestionSet {
  if (opts.synthetic === true) return syntheticQuestionSet(opts.seed)
  const dir = resolveDataDir(opts.dataDir)
  return dir == null ? syntheticQuestionSet(opts.seed) : loadQuestionsFile(dir)
}

/** Questions judged sound (`errorType` `ok`); the synthetic set has only such. */
export function soundQuestions (set: QuestionSet): Question[] {
  return set.questions.filter(q => q.errorType === 'ok')
}

/** A seeded split per subject: `trainFraction` of each subject's questions for training, the rest held out. */
export function splitBySubject (questions: Question[], trainFraction: number, rng: Rng): { train: Question[], test: Question[] } {
  const bySubject = new Map<string, Question[]>()
  for (const q of questions) {
    const list = bySubject.get(q.subject) ?? []
    list.push(q)
    bySubject.set(q.subject, list)
  }
  const train: Question[] = []
  const test: Question[] = []
  for (const subject of [...bySubject.keys()].sort()) {
    const list = shuffled(bySubject.get(subject) ?? [], rng)
    const cut = Math.round(list.length * trainFraction)
    train.push(...list.slice(0, cut))
    test.push(...list.slice(cut))
  }
  return { train, test }
}

const SYNTHETIC_VOCABULARY: Record<string, string[]> = {
  astronomy: ['star', 'orbit', 'galaxy', 'planet', 'telescope', 'nebula', 'redshift', 'comet', 'lunar', 'solar', 'eclipse', 'supernova'],
  biology: ['cell', 'gene', 'protein', 'enzyme', 'membrane', 'mitosis', 'organism', 'evolution', 'dna', 'species', 'tissue', 'ribosome'],
  chemistry: ['molecule', 'reaction', 'acid', 'bond', 'electron', 'oxidation', 'solvent', 'catalyst', 'isotope', 'compound', 'titration', 'mole'],
  economics: ['market', 'inflation', 'demand', 'supply', 'price', 'tariff', 'monetary', 'fiscal', 'elasticity', 'gdp', 'interest', 'equilibrium'],
  history: ['empire', 'treaty', 'revolution', 'dynasty', 'war', 'colonial', 'king', 'parliament', 'century', 'medieval', 'republic', 'reform'],
  law: ['contract', 'tort', 'plaintiff', 'defendant', 'statute', 'court', 'liability', 'evidence', 'appeal', 'jurisdiction', 'negligence', 'verdict'],
  mathematics: ['integral', 'matrix', 'prime', 'polynomial', 'derivative', 'vector', 'theorem', 'group', 'limit', 'eigenvalue', 'series', 'proof'],
  medicine: ['patient', 'diagnosis', 'symptom', 'therapy', 'dose', 'infection', 'chronic', 'clinical', 'artery', 'surgery', 'antibiotic', 'fever']
}
const SYNTHETIC_FILLER = ['which', 'of', 'the', 'following', 'is', 'most', 'likely', 'best', 'describes', 'a', 'an', 'what', 'when', 'given', 'true']

/** The built-in workload: 8 subjects x 40 templated questions, 14 models with per-subject accuracies drawn from the seed. */
export function syntheticQuestionSet (seed = 1): QuestionSet {
  const rng = seededRng(seed)
  const subjects = Object.keys(SYNTHETIC_VOCABULARY).sort()
  const models = Array.from({ length: 14 }, (_, i) => `synthetic-model-${String(i + 1).padStart(2, '0')}`)
  const params = { generator: 'built-in synthetic workload', seed, subjects: subjects.length, questionsPerSubject: 40, models: models.length, domainWordsPerQuestion: 5, fillerWordsPerQuestion: 4, modelSubjectAccuracyMin: 0.55, modelSubjectAccuracyMax: 0.95 }
  const accuracy = new Map<string, number>()
  for (const m of models) for (const s of subjects) accuracy.set(`${m}|${s}`, params.modelSubjectAccuracyMin + (params.modelSubjectAccuracyMax - params.modelSubjectAccuracyMin) * rng())
  const questions: Question[] = []
  for (const subject of subjects) {
    const vocab = SYNTHETIC_VOCABULARY[subject]
    for (let n = 0; n < params.questionsPerSubject; n++) {
      const words: string[] = []
      for (let k = 0; k < params.fillerWordsPerQuestion; k++) words.push(SYNTHETIC_FILLER[Math.floor(rng() * SYNTHETIC_FILLER.length)])
      for (let k = 0; k < params.domainWordsPerQuestion; k++) words.push(vocab[Math.floor(rng() * vocab.length)])
      const answer = Math.floor(rng() * 4)
      const predictions: Record<string, string> = {}
      for (const m of models) {
        const right = rng() < (accuracy.get(`${m}|${subject}`) ?? 0)
        predictions[m] = right ? LETTERS[answer] : LETTERS[(answer + 1 + Math.floor(rng() * 3)) % 4]
      }
      questions.push({
        id: `${subject}/${String(n).padStart(3, '0')}`,
        subject,
        question: shuffled(words, rng).join(' ') + '?',
        choices: ['option one', 'option two', 'option three', 'option four'],
        answer,
        errorType: 'ok',
        predictions
      })
    }
  }
  return { source: 'built-in synthetic workload', synthetic: true, questions, models, subjects, syntheticParams: params }
}
