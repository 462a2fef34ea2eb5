#!/usr/bin/env node
/**
 * `ppai`: the command line. Each area registers its own subcommands
 * (`register*` functions), so this file only assembles them.
 */
import { Command } from 'commander'
import { registerBench } from './bench/command.js'
import { registerDemo } from './demo/command.js'
import { registerNodeCommands } from './net/commands.js'
import { registerSoak } from './soak/command.js'

const program = new Command()
  .name('ppai')
  .description('Personal LLM agents that lend and borrow expertise over a peer-to-peer network')
  .version('0.1.0')
  .showHelpAfterError()

// Subcommands: one line per area.
registerBench(program)
registerDemo(program)
registerNodeCommands(program)
registerSoak(program)

await program.parseAsync(process.argv)
