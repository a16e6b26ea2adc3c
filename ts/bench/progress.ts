// Live progress of the rate phases on stderr: on a terminal one status line
// rewritten in place (the phase, its rate, seconds gone of seconds due);
// elsewhere (a pipe, a CI log) one plain line as each phase starts and ends.
// Silent with --json or --csv (stdout is then for machines; stderr stays
// quiet unless something fails).
import { Histogram } from './histogram.js'
import type { Member } from './run.js'

const TICK_MS = 250

export class Progress {
  private timer: NodeJS.Timeout | null = null
  private started = 0

  constructor(
    private readonly enabled: boolean,
    private readonly out: NodeJS.WriteStream,
    private readonly rates: readonly number[],
    /** Seconds a phase takes: warm-up and measured part. */
    private readonly phaseSeconds: number,
  ) {}

  private get tty(): boolean {
    return this.out.isTTY === true
  }

  phase(k: number, rate: number): void {
    if (!this.enabled) return
    const head = `rate ${k + 1}/${this.rates.length}: ${rate.toLocaleString('en-US')} msgs/s per sender`
    this.started = performance.now()
    if (!this.tty) {
      this.out.write(`troupe bench: ${head} for ${this.phaseSeconds} s\n`)
      return
    }
    const draw = (): void => {
      const gone = Math.min(this.phaseSeconds, (performance.now() - this.started) / 1000)
      const width = 20
      const filled = Math.round((gone / this.phaseSeconds) * width)
      this.out.write(`\r\x1b[2Ktroupe bench: ${head} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${gone.toFixed(1)}/${this.phaseSeconds} s`)
    }
    draw()
    this.timer = setInterval(draw, TICK_MS)
    this.timer.unref()
  }

  /** A phase is over: its worst receiver's p99 in one line. */
  done(k: number, members: Member[]): void {
    if (!this.enabled) return
    this.stopTimer()
    let worstP99 = 0
    for (const m of members) {
      const d = m.phases[k]?.delivered
      if (d) worstP99 = Math.max(worstP99, Histogram.from(d.latency).quantile(0.99))
    }
    const line = `troupe bench: rate ${k + 1}/${this.rates.length} done in ${((performance.now() - this.started) / 1000).toFixed(1)} s; worst receiver's one-way p99 ${Math.round(worstP99 / 1000).toLocaleString('en-US')} µs`
    this.out.write(this.tty ? `\r\x1b[2K${line}\n` : `${line}\n`)
  }

  end(): void {
    this.stopTimer()
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
  }
}
