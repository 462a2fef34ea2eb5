import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
    // Structured logs of in-process nodes and APIs would interleave with the test report; PPAI_LOG=info brings them back.
    env: { PPAI_LOG: process.env.PPAI_LOG ?? 'silent' }
  }
})
