// A fixed-size log-linear histogram of non-negative values (nanoseconds here),
// in the manner of HdrHistogram: values below 2^SUB_BITS are counted exactly;
// above, each power of two [2^e, 2^(e+1)) is cut into 2^SUB_BITS equal
// sub-buckets, so a recorded value is off by at most 1/2^SUB_BITS (0.8%).
// record() allocates nothing and costs a few nanoseconds, so a receiver can
// call it for every message it delivers.
//
//   index:  0 .. 127 | 128 .. 255 | 256 .. 383 | ... (SUB = 128 per row)
//   value:  0 .. 127 | 128 .. 255 | 256, 258.. | 512, 516, ...
//           exact      step 1       step 2       step 4

const SUB_BITS = 7
const SUB = 1 << SUB_BITS
/** Values of 2^(MAX_EXP+1) ns (78 hours) or more are clamped into the top bucket. */
const MAX_EXP = 47
const BUCKETS = (MAX_EXP - SUB_BITS + 2) * SUB
const TOP = 2 ** (MAX_EXP + 1) - 1
const TWO_31 = 2 ** 31

// 2^-(e - SUB_BITS) for every exponent e, so that record() multiplies instead of dividing.
const SCALE = new Float64Array(MAX_EXP + 1)
for (let e = SUB_BITS; e <= MAX_EXP; e++) SCALE[e] = 2 ** -(e - SUB_BITS)

/** The histogram as it crosses process boundaries: only non-empty buckets. */
export interface HistogramData {
  buckets: Array<[index: number, count: number]>
  min: number
  max: number
  sum: number
}

export class Histogram {
  readonly counts = new Float64Array(BUCKETS)
  count = 0
  sum = 0
  min = Infinity
  max = 0

  /** Counts one value (ns). Negative values count as 0; fractions are dropped. */
  record(value: number): void {
    const v = value > 0 ? (value < TOP ? Math.floor(value) : TOP) : 0
    let index: number
    if (v < SUB) {
      index = v
    } else {
      // e = floor(log2 v), from clz32 of the low or the high 31 bits.
      const e = v < TWO_31 ? 31 - Math.clz32(v) : 62 - Math.clz32(Math.floor(v / TWO_31))
      // Row (e - SUB_BITS + 1), column (v >> (e - SUB_BITS)) - SUB; written as one sum.
      index = (e - SUB_BITS) * SUB + Math.floor(v * SCALE[e]!)
    }
    this.counts[index]!++
    this.count++
    this.sum += v
    if (v < this.min) this.min = v
    if (v > this.max) this.max = v
  }

  /** The value below which a fraction q (0..1) of the recorded values lie: the
   *  highest value of that bucket, so a percentile never reads low; 0 if empty. */
  quantile(q: number): number {
    if (this.count === 0) return 0
    const rank = Math.max(1, Math.ceil(q * this.count))
    let seen = 0
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!
      if (seen >= rank) return Math.min(highestOf(i), this.max)
    }
    return this.max
  }

  mean(): number {
    return this.count === 0 ? 0 : this.sum / this.count
  }

  reset(): void {
    this.counts.fill(0)
    this.count = 0
    this.sum = 0
    this.min = Infinity
    this.max = 0
  }

  add(other: Histogram | HistogramData): void {
    const data = other instanceof Histogram ? other.toData() : other
    for (const [i, n] of data.buckets) {
      this.counts[i] = this.counts[i]! + n
      this.count += n
    }
    this.sum += data.sum
    if (data.min < this.min) this.min = data.min
    if (data.max > this.max) this.max = data.max
  }

  toData(): HistogramData {
    const buckets: Array<[number, number]> = []
    for (let i = 0; i < BUCKETS; i++) if (this.counts[i]! > 0) buckets.push([i, this.counts[i]!])
    // JSON has no Infinity: an empty histogram sends min 0 (count 0 says it is empty).
    return { buckets, min: this.count === 0 ? 0 : this.min, max: this.max, sum: this.sum }
  }

  static from(data: HistogramData): Histogram {
    const h = new Histogram()
    h.add(data)
    if (h.count === 0) h.min = Infinity
    return h
  }
}

/** The highest value that falls into bucket i. */
function highestOf(i: number): number {
  if (i < 2 * SUB) return i
  const row = Math.floor(i / SUB) // row r >= 2 holds [2^(r+SUB_BITS-1), 2^(r+SUB_BITS)) in steps of 2^(r-1)
  const step = 2 ** (row - 1)
  const lowest = (SUB + (i % SUB)) * step
  return lowest + step - 1
}
