#!/usr/bin/env node
/**
 * `ppai`: the command line. Each area registers its own subcommands
 * (`register*` functions), so this file only assembles them.
 */
import { Command } from 'commander'
import { registerBench } from './bench/command.js'
import { registerAskCommand } from './commands/ask.js'
import { registerNodeCommand } from './commands/node.js'
import { registerDemo } from './demo/command.js'
import { registerSoak } from './soak/command.js'
import { registerLan } from './lan/command.js'

// libp2p 3 and its modules need Node 22: on an older one they fail later, far from the cause.
if (Number(process.versions.node.split('.')[0]) < 22) {
  // `npm install` puts Node 22 (a dev dependency) in node_modules/.bin, which npm scripts and npx put first on PATH.
  process.stderr.write(`ppai needs Node.js 22 or newer; this is ${process.version}. In the checkout, after npm install: npm run demo, or npx ppai …\n`)
  process.exit(1)
}

const program = new Command()
  .name('ppai')
  .description('Personal LLM agents that lend and borrow expertise over a peer-to-peer network')
  .version('0.1.0')
  .showHelpAfterError()

// Subcommands: one line per area.
registerBench(program)
registerDemo(program)
registerNodeCommand(program)
registerAskCommand(program)
registerSoak(program)
registerLan(program)

await program.parseAsync(process.argv)
