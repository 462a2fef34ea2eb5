/**
 * A progress bar on stderr (stdout stays for results). On a terminal it
 * redraws one line; otherwise it prints a line at each quarter.
 */
export class ProgressBar {
  private lastDrawn = -1
  private readonly tty: boolean

  /** `tty`: whether the output ends on a terminal (a worker thread writes to the process's stderr, which may be one). */
  constructor (private readonly stream: { write: (text: string) => unknown } = process.stderr, private readonly width = 30, tty = process.stderr.isTTY === true) {
    this.tty = tty
  }

  /** Shows `done` of `total` for `label`. */
  update (label: string, done: number, total: number): void {
    const frac = total > 0 ? Math.min(1, done / total) : 1
    const pct = Math.floor(frac * 100)
    if (this.tty) {
      if (pct === this.lastDrawn) return
      this.lastDrawn = pct
      const filled = Math.round(frac * this.width)
      this.stream.write(`\r${label.padEnd(14)} [${'#'.repeat(filled)}${'.'.repeat(this.width - filled)}] ${String(pct).padStart(3)}%`)
    } else {
      const quarter = Math.floor(pct / 25)
      if (quarter === this.lastDrawn) return
      this.lastDrawn = quarter
      this.stream.write(`${label}: ${pct}%\n`)
    }
  }

  /** Ends the current bar. */
  done (label: string, note = ''): void {
    if (this.tty) this.stream.write(`\r${label.padEnd(14)} done ${note}`.padEnd(60) + '\n')
    else this.stream.write(`${label}: done ${note}\n`)
    this.lastDrawn = -1
  }
}
