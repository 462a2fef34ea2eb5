import { describe, expect, it } from 'vitest'
import { NamedError, ReasonError, RejectionError } from '../../src/core/errors.js'
import { PolicyError } from '../../src/core/policies.js'
import { RecordRejectedError } from '../../src/net/records.js'
import { ApiError } from '../../src/api/errors.js'

describe('error classes', () => {
  it('name an error after its class, subclasses included', () => {
    class SomethingFailed extends NamedError {}
    const err = new SomethingFailed('it broke', { cause: 'x' })
    expect(err).toBeInstanceOf(Error)
    expect(err.name).toBe('SomethingFailed')
    expect(err.message).toBe('it broke')
    expect(err.cause).toBe('x')
    expect(String(err)).toBe('SomethingFailed: it broke')
  })

  it('carry a reason, and a rejection puts it at the head of the message', () => {
    const policy = new PolicyError('unknown-policy', 'no such policy: x')
    expect(policy).toBeInstanceOf(ReasonError)
    expect(policy).toMatchObject({ name: 'PolicyError', reason: 'unknown-policy', message: 'no such policy: x' })
    const record = new RecordRejectedError('bad-signature', 'signature does not verify')
    expect(record).toBeInstanceOf(RejectionError)
    expect(record).toMatchObject({ name: 'RecordRejectedError', reason: 'bad-signature', message: 'bad-signature: signature does not verify' })
    const api = new ApiError('body_too_large', 'too big')
    expect(api).toMatchObject({ name: 'ApiError', reason: 'body_too_large', status: 413 })
    expect(api.toBody().error.code).toBe('body_too_large')
  })
})
