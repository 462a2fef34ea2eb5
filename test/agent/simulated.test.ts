import { describe, expect, it } from 'vitest'
import { AgentAbortedError } from '../../src/agent/backend.js'
import { BackendConfigError, createBackend, personalAgentChoice } from '../../src/agent/index.js'
import { correctLetter, formatQuestion, parseAnswerLetter } from '../../src/agent/question-prompt.js'
import { recordedTrace } from '../../src/agent/recorded-trace.js'
import { EDGE_DEVICE, serviceTimeMs } from '../../src/agent/service-time.js'
import { createSimulatedBackend, splitEvenly } from '../../src/agent/simulated.js'
import { loadQuestionSet, type Question } from '../../src/data/questions.js'

// The real data when it is beside the checkout, the built-in synthetic set otherwise.
const set = loadQuestionSet()
const instantService = { ...EDGE_DEVICE, timeScale: 0 }
const model = set.models[0]

/** A spread sample: every 37th question. */
const sample: Question[] = set.questions.filter((_, i) => i % 37 === 0)
const bareCount = new Map<string, number>()
for (const q of set.questions) bareCount.set(q.question.trim(), (bareCount.get(q.question.trim()) ?? 0) + 1)

describe('simulated backend', () => {
  it(`answers with the letter ${model} recorded, for the formatted prompt and the bare text (${set.synthetic ? 'synthetic' : 'MMLU-Redux'})`, async () => {
    const backend = createSimulatedBackend({ questions: set, model: recordedTrace(model), service: instantService })
    let letters = 0
    for (const q of sample) {
      const recorded = q.predictions[model]
      const expected = /^[ABCD]$/.test(recorded) ? recorded : undefined
      if (expected != null) letters++
      const viaPrompt = await backend.answer({ id: q.id, question: formatQuestion(q) })
      const viaBare = await backend.answer({ id: q.id, question: `  ${q.question}\n` })
      expect(parseAnswerLetter(viaPrompt.text)).toBe(expected)
      // A bare stem shared by several questions ("Which of the following is true?") cannot name one.
      if (bareCount.get(q.question.trim()) === 1) expect(parseAnswerLetter(viaBare.text)).toBe(expected)
    }
    expect(letters).toBeGreaterThan(sample.length * 0.9)
  })

  it('is right exactly where the recorded model was right', async () => {
    const backend = createSimulatedBackend({ questions: set, model: recordedTrace(model), service: instantService })
    let right = 0
    let recordedRight = 0
    for (const q of sample) {
      const text = (await backend.answer({ id: q.id, question: formatQuestion(q) })).text
      if (parseAnswerLetter(text) === correctLetter(q)) right++
      if (q.predictions[model] === correctLetter(q)) recordedRight++
    }
    expect(right).toBe(recordedRight)
    expect(right).toBeGreaterThan(0)
  })

  it('gives a personalised agent its expert model\'s answers on the owner subjects and a weaker small model elsewhere', async () => {
    const owner = set.subjects.slice(0, 2)
    const expert = set.models[set.models.length - 1]
    const { backend } = createBackend({ backend: 'simulated', name: 'alice', ownerSubjects: owner.join(','), expertModel: expert, timeScale: 0, smallModelAccuracy: 0.5, smallModelSpread: 0 }, undefined, set)
    let ownRight = 0
    let ownExpertRight = 0
    let ownCount = 0
    let elseRight = 0
    let elseCount = 0
    for (const q of set.questions) {
      const mine = owner.includes(q.subject)
      if (!mine && elseCount >= 400) continue
      const letter = parseAnswerLetter((await backend.answer({ id: q.id, question: formatQuestion(q) })).text)
      if (mine) {
        ownCount++
        expect(letter).toBe(/^[ABCD]$/.test(q.predictions[expert]) ? q.predictions[expert] : undefined)
        if (letter === correctLetter(q)) ownRight++
        if (q.predictions[expert] === correctLetter(q)) ownExpertRight++
      } else {
        elseCount++
        if (letter === correctLetter(q)) elseRight++
      }
    }
    expect(ownRight).toBe(ownExpertRight)
    // 400 draws at p = 0.5: within ±0.1 with overwhelming probability.
    expect(elseRight / elseCount).toBeGreaterThan(0.4)
    expect(elseRight / elseCount).toBeLessThan(0.6)
    expect(ownCount).toBeGreaterThan(0)
  })

  it('says it is simulated when the question is not in its set, and names no option', async () => {
    const backend = createSimulatedBackend({ questions: set, model: recordedTrace(model), service: instantService })
    const out = await backend.answer({ id: 'x', question: 'What is the capital of the moon colony founded in 2150?' })
    expect(out.text).toContain('simulated')
    expect(parseAnswerLetter(out.text)).toBeUndefined()
  })

  it('takes the scaled service time and serves one request at a time', async () => {
    const service = { ...EDGE_DEVICE, timeScale: 0.05 }
    const backend = createSimulatedBackend({ questions: set, model: recordedTrace(model), service })
    const prompt = formatQuestion(sample[0])
    const expected = serviceTimeMs(prompt.length, service)
    expect(expected).toBeGreaterThan(50)
    const started = performance.now()
    const first = backend.answer({ id: 'a', question: prompt }).then(() => performance.now() - started)
    const second = backend.answer({ id: 'b', question: prompt }).then(() => performance.now() - started)
    const [t1, t2] = await Promise.all([first, second])
    expect(t1).toBeGreaterThanOrEqual(expected - 2)
    expect(t2).toBeGreaterThanOrEqual(2 * expected - 4)
  })

  it('stops when the request is aborted, also while waiting for the device', async () => {
    const backend = createSimulatedBackend({ questions: set, model: recordedTrace(model), service: { ...EDGE_DEVICE, timeScale: 1 } })
    const controller = new AbortController()
    const busy = backend.answer({ id: 'a', question: 'busy', signal: controller.signal })
    const queued = backend.answer({ id: 'b', question: 'queued', signal: controller.signal })
    setTimeout(() => controller.abort(), 50)
    const started = performance.now()
    await expect(busy).rejects.toBeInstanceOf(AgentAbortedError)
    await expect(queued).rejects.toBeInstanceOf(AgentAbortedError)
    expect(performance.now() - started).toBeLessThan(1_000)
  })

  it('streams its answer in tokens at the device speed, the last at the unstreamed service time', async () => {
    const service = { ...EDGE_DEVICE, timeScale: 0.25 }
    const backend = createSimulatedBackend({ questions: set, model: recordedTrace(model), service })
    const q = sample[1]
    const prompt = formatQuestion(q)
    const pieces: Array<{ text: string, at: number }> = []
    const t0 = performance.now()
    const out = await backend.answer({ id: q.id, question: prompt, onToken: text => pieces.push({ text, at: performance.now() - t0 }) })
    const totalMs = performance.now() - t0
    const plain = await createSimulatedBackend({ questions: set, model: recordedTrace(model), service: instantService }).answer({ id: q.id, question: prompt })
    expect(out.text).toBe(plain.text)
    expect(pieces.map(p => p.text).join('')).toBe(out.text)
    expect(pieces.length).toBe(Math.min(EDGE_DEVICE.outputTokens, [...out.text].length))
    const serviceMs = serviceTimeMs(prompt.length, service)
    const decodeMs = service.timeScale * 1000 * service.outputTokens / service.tokensPerSec
    // Nothing during prefill; then a piece per decode step, the last when an unstreamed answer would be done.
    expect(pieces[0].at).toBeGreaterThanOrEqual(serviceMs - decodeMs - 2)
    expect(pieces[0].at).toBeLessThan(serviceMs - decodeMs + decodeMs / 2)
    expect(pieces.at(-1)?.at ?? 0).toBeGreaterThanOrEqual(serviceMs - 2)
    expect(totalMs).toBeLessThan(serviceMs + 500)
    for (let i = 1; i < pieces.length; i++) expect(pieces[i].at).toBeGreaterThanOrEqual(pieces[i - 1].at)
  })

  it('cuts a text into at most n nearly equal pieces, never inside a character', () => {
    expect(splitEvenly('abcdefgh', 4)).toEqual(['ab', 'cd', 'ef', 'gh'])
    expect(splitEvenly('abc', 8)).toEqual(['a', 'b', 'c'])
    expect(splitEvenly('a😀b😀', 2)).toEqual(['a😀', 'b😀'])
    expect(splitEvenly('', 3)).toEqual([''])
  })
})

describe('backend factory', () => {
  it('draws the same owner subjects and expert model for the same seed and name, and others for another name', () => {
    const a = personalAgentChoice(set, { name: 'n1', simSeed: 7, ownerSubjectCount: 3 })
    const b = personalAgentChoice(set, { name: 'n1', simSeed: 7, ownerSubjectCount: 3 })
    const others = ['n2', 'n3', 'n4', 'n5'].map(name => personalAgentChoice(set, { name, simSeed: 7, ownerSubjectCount: 3 }))
    expect(a).toEqual(b)
    expect(a.ownerSubjects).toHaveLength(3)
    expect(others.some(o => o.ownerSubjects.join() !== a.ownerSubjects.join())).toBe(true)
  })

  it('refuses options that cannot work, each with its reason', () => {
    const reasonOf = (fn: () => unknown): string | undefined => {
      try {
        fn()
      } catch (err) {
        return err instanceof BackendConfigError ? err.reason : `untyped: ${String(err)}`
      }
      return undefined
    }
    expect(reasonOf(() => createBackend({ backend: 'openai', backendModel: 'm' }))).toBe('missing-url')
    expect(reasonOf(() => createBackend({ backend: 'openai', backendUrl: 'http://127.0.0.1:1/v1' }))).toBe('missing-model')
    expect(reasonOf(() => createBackend({ backend: 'trace:no-such-model' }, undefined, set))).toBe('unknown-model')
    expect(reasonOf(() => createBackend({ backend: 'simulated', ownerSubjects: 'basket_weaving' }, undefined, set))).toBe('unknown-subject')
    expect(reasonOf(() => createBackend({ backend: 'carrier-pigeon' }))).toBe('invalid-options')
    expect(reasonOf(() => createBackend({ backend: 'simulated', timeScale: 'fast' }, undefined, set))).toBe('invalid-options')
  })

  it('makes a trace backend from flags as strings, the way commander hands them over', async () => {
    const { backend, params } = createBackend({ backend: `trace:${model}`, timeScale: '0', simSeed: '3' }, undefined, set)
    expect(params.model).toBe(model)
    const q = sample[1]
    expect(parseAnswerLetter((await backend.answer({ id: q.id, question: formatQuestion(q) })).text)).toBe(/^[ABCD]$/.test(q.predictions[model]) ? q.predictions[model] : undefined)
  })
})

describe('answer letters', () => {
  it('reads the chosen option from the usual ways models say it', () => {
    expect(parseAnswerLetter('Answer: C (because ...)')).toBe('C')
    expect(parseAnswerLetter('The answer is **B**.')).toBe('B')
    expect(parseAnswerLetter('(D) is correct')).toBe('D')
    expect(parseAnswerLetter('A. Paris')).toBe('A')
    expect(parseAnswerLetter('I am not sure.')).toBeUndefined()
  })
})
