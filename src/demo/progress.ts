/**
 * Progress of the demo on stderr (stdout keeps the table): one updating line
 * on a terminal, a line every few seconds otherwise (CI logs, tests).
 */

export class Progress {
  private lastLine = 0
  private readonly tty: boolean

  constructor (private readonly out: NodeJS.WriteStream = process.stderr, private readonly quiet = false) {
    this.tty = out.isTTY === true
  }

  /** A new stage of the run. */
  phase (message: string): void {
    this.line(`» ${message}`)
  }

  /** Something that happened (a node left, rejoined). */
  note (message: string): void {
    this.line(`  ${message}`)
  }

  /** Queries answered so far. */
  update (answered: number, issued: number, planned: number): void {
    if (this.quiet) return
    const text = `  ${answered}/${planned} answered (${issued - answered} in flight)`
    const now = Date.now()
    if (this.tty) {
      this.out.write(`\r${text}\x1b[K`)
    } else if (now - this.lastLine >= 3_000) {
      this.lastLine = now
      this.out.write(text + '\n')
    }
  }

  /** The end of a stage. */
  done (message: string): void {
    this.line(`  ${message}`)
  }

  private line (text: string): void {
    if (this.quiet) return
    this.out.write(this.tty ? `\r\x1b[K${text}\n` : text + '\n')
  }
}
