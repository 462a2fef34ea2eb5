import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { DataError, loadQuestionSet, loadQuestionsFile } from '../../src/data/questions.js'

const dir = mkdtempSync(join(tmpdir(), 'ppai-questions-'))
const file = join(dir, 'questions.jsonl')
const question = { id: 'astronomy/000', subject: 'astronomy', question: 'Which planet is largest?', choices: ['Mars', 'Jupiter', 'Venus', 'Earth'], answer: 1, errorType: 'ok', predictions: { 'model-a': 'B', 'model-b': 'C' } }
writeFileSync(file, JSON.stringify(question) + '\n' + JSON.stringify({ ...question, id: 'astronomy/001' }) + '\n')

afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('the questions loader', () => {
  it('takes the mmlu-redux folder or its questions.jsonl alike', () => {
    const fromDir = loadQuestionsFile(dir)
    const fromFile = loadQuestionsFile(file)
    expect(fromFile).toEqual(fromDir)
    expect(fromFile.source).toBe(file)
    expect(fromFile.questions.map(q => q.id)).toEqual(['astronomy/000', 'astronomy/001'])
    expect(fromFile.models).toEqual(['model-a', 'model-b'])
    expect(loadQuestionSet({ dataDir: file }).synthetic).toBe(false)
  })

  it('names what is missing: a folder without questions.jsonl, a path that does not exist', () => {
    const empty = mkdtempSync(join(dir, 'empty-'))
    expect(() => loadQuestionsFile(empty)).toThrow(DataError)
    expect(() => loadQuestionsFile(empty)).toThrow(`no questions.jsonl in ${empty}`)
    const nowhere = join(dir, 'nowhere', 'questions.jsonl')
    expect(() => loadQuestionsFile(nowhere)).toThrow(`no such folder or file: ${nowhere}`)
    expect(() => loadQuestionSet({ dataDir: nowhere })).toThrow(DataError)
  })

  it('points at the line of a malformed file', () => {
    const bad = join(dir, 'bad.jsonl')
    writeFileSync(bad, JSON.stringify(question) + '\nnot json\n')
    expect(() => loadQuestionsFile(bad)).toThrow(`${bad}:2: not JSON`)
  })
})
