// A receiver of `troupe bench`: counts every sender's DATA, checks each
// stream, and times one-way latency into a histogram.
import type { BenchConfig } from './options.js'
import { Histogram } from './histogram.js'
import { END, HEADER_BYTES, readSender, readTime, readU32, SERIES_MS, WARM } from './protocol.js'
import type { PerSender, ReceiverReport } from './protocol.js'

/** Re-read the clock after this many deliveries within one batch. */
const DELIVERIES_PER_STAMP = 64

/**
 * Counts DATA per sender and checks each sender's stream: no duplicates (a
 * bitmap of seqs seen) and, unless order is unordered, seq contiguous.
 *
 * The clock is read once per delivery batch, and again every
 * DELIVERIES_PER_STAMP messages within a long one: the engine delivers a
 * batch in one synchronous run of 'message' events, and the microtask that
 * clears the stamp runs only after it. (An iterator hands each message in a
 * microtask of its own, so there the stamp is cleared at the next turn of the
 * event loop, after the whole run of microtasks.) Per message, hrtime.bigint() would
 * cost ~70 ns, a sizeable part of a receiver's budget at millions of
 * messages/s; a batch can hold tens of thousands of messages, so one stamp
 * for all of them would read latency low by the time spent delivering them.
 */
export class Receiver {
  onComplete: (() => void) | null = null
  private readonly delivered: Float64Array
  private readonly announced: Float64Array
  private readonly next: Float64Array
  private readonly duplicates: Float64Array
  private readonly outOfOrder: Float64Array
  private readonly seen: Uint32Array[]
  private readonly latency = new Histogram()
  private messages = 0
  /** A hash chain over (sender, seq) in delivery order: members that deliver in one order end with one value. */
  private orderHash = 0
  private foreign = 0
  private ends = 0
  /** Sum of the END counts, once every sender's END is in. */
  private expected = Infinity
  private first = 0
  private last = 0
  private done = false
  private cpu0: NodeJS.CpuUsage = process.cpuUsage()
  private wall0 = 0
  private now = 0
  /** Deliveries left before the clock is read again; 0 = read it at the next one. */
  private stampBudget = 0
  private unstampQueued = false
  private readonly unstamp = (): void => {
    this.stampBudget = 0
    this.unstampQueued = false
  }

  private readonly scheduleUnstamp: (f: () => void) => void

  /** A rate phase's: messages per SERIES_MS from its t0. */
  private readonly series: number[] | null
  private t0 = 0

  /**
   * `ratePhase`: the clock is read for every message (at fixed rates
   * accuracy is worth the ~70 ns), and deliveries are counted over time from
   * the phase's t0 (startSeries).
   */
  constructor(private readonly senders: number, consume: BenchConfig['consume'], ratePhase = false) {
    this.series = ratePhase ? [] : null
    this.scheduleUnstamp = consume === 'iterator' ? setImmediate : queueMicrotask
    this.delivered = new Float64Array(senders)
    this.announced = new Float64Array(senders).fill(-1)
    this.next = new Float64Array(senders)
    this.duplicates = new Float64Array(senders)
    this.outOfOrder = new Float64Array(senders)
    this.seen = Array.from({ length: senders }, () => new Uint32Array(1 << 12))
  }

  /** The rate phase's t0 (CLOCK_MONOTONIC ns): the series' slices count from it. */
  startSeries(t0: number): void {
    this.t0 = t0
  }

  start(): void {
    this.cpu0 = process.cpuUsage()
    this.wall0 = performance.now()
  }

  onData(d: Uint8Array): void {
    this.onBytes(d, 0, d.length)
  }

  /** A message that lies at `buf[at, at + length)` (the 'batch' cursor's bytes: nothing allocated). */
  onBytes(d: Uint8Array, at: number, length: number): void {
    if (this.series !== null) {
      this.now = Number(process.hrtime.bigint())
    } else if (this.stampBudget-- === 0) {
      this.now = Number(process.hrtime.bigint())
      this.stampBudget = DELIVERIES_PER_STAMP - 1
      if (!this.unstampQueued) {
        this.unstampQueued = true
        this.scheduleUnstamp(this.unstamp)
      }
    }
    const s = length < HEADER_BYTES ? this.senders : readSender(d, at)
    if (s >= this.senders) {
      this.foreign++
      return
    }
    const seq = readU32(d, at + 4)
    if (d[at] === END) {
      if (this.announced[s] === -1) {
        this.announced[s] = seq
        if (++this.ends === this.senders) this.expected = this.announced.reduce((a, b) => a + b, 0)
        this.check()
      }
      return
    }
    let seen = this.seen[s]!
    const word = seq >>> 5
    if (word >= seen.length) seen = this.grow(s, word)
    const bit = 1 << (seq & 31)
    if (seen[word]! & bit) {
      this.duplicates[s]!++
      return
    }
    seen[word]! |= bit
    if (seq !== this.next[s]) this.outOfOrder[s]!++
    this.next[s] = seq + 1
    this.orderHash = (Math.imul(this.orderHash ^ (s * 0x9e3779b1 + seq), 0x01000193) + seq) >>> 0
    this.delivered[s]!++
    if (this.series !== null) this.count(this.now)
    if (d[at] !== WARM) this.latency.record(this.now - readTime(d, at))
    if (this.messages++ === 0) this.first = this.now
    this.last = this.now
    if (this.messages >= this.expected) this.check()
  }

  /** One more delivery in the series, in the slice of `now`. */
  private count(now: number): void {
    const series = this.series!
    const slice = Math.max(0, Math.floor((now - this.t0) / (SERIES_MS * 1e6)))
    while (series.length <= slice) series.push(0)
    series[slice]!++
  }

  private grow(s: number, word: number): Uint32Array {
    const old = this.seen[s]!
    const bigger = new Uint32Array(Math.max(old.length * 2, word + 1))
    bigger.set(old)
    this.seen[s] = bigger
    return bigger
  }

  private check(): void {
    if (this.done || this.ends < this.senders) return
    for (let s = 0; s < this.senders; s++) if (this.delivered[s]! < this.announced[s]!) return
    this.done = true
    this.onComplete?.()
  }

  report(complete: boolean): ReceiverReport {
    const wallUs = (performance.now() - this.wall0) * 1000
    const cpu = process.cpuUsage(this.cpu0)
    const perSender: PerSender[] = []
    for (let s = 0; s < this.senders; s++) {
      perSender.push({
        delivered: this.delivered[s]!,
        announced: this.announced[s]!,
        duplicates: this.duplicates[s]!,
        outOfOrder: this.outOfOrder[s]!,
      })
    }
    return {
      complete: complete || this.done,
      orderHash: this.orderHash,
      messages: this.messages,
      seconds: (this.last - this.first) / 1e9,
      perSender,
      foreign: this.foreign,
      latency: this.latency.toData(),
      cpuPercent: wallUs > 0 ? (100 * (cpu.user + cpu.system)) / wallUs : 0,
      peakRssMiB: process.resourceUsage().maxRSS / 1024,
      ...(this.series ? { series: this.series } : {}),
    }
  }
}
