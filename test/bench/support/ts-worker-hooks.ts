/**
 * Lets a worker thread run the TypeScript sources, as vitest does for the
 * tests: imports written `./x.js` resolve to `./x.ts` when no `.js` is there.
 * Loaded with `--import` next to Node's `--experimental-transform-types`.
 */
import { registerHooks } from 'node:module'

registerHooks({
  resolve (specifier, context, next) {
    try {
      return next(specifier, context)
    } catch (err) {
      if (specifier.endsWith('.js') && context.parentURL?.endsWith('.ts') === true) return next(specifier.slice(0, -3) + '.ts', context)
      throw err
    }
  }
})
