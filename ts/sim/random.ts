// A small seeded generator (xoshiro128**, state spread from the seed by
// splitmix32), so that a seed replays a run exactly.
export class Random {
  private a: number
  private b: number
  private c: number
  private d: number
  constructor(seed: number) {
    let z = seed >>> 0
    const mix = () => {
      z = (z + 0x9e3779b9) >>> 0
      let x = z
      x = Math.imul(x ^ (x >>> 16), 0x85ebca6b)
      x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35)
      return (x ^ (x >>> 16)) >>> 0
    }
    this.a = mix()
    this.b = mix()
    this.c = mix()
    this.d = mix() | 1
  }
  u32(): number {
    const r = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0
    const t = this.b << 9
    this.c ^= this.a
    this.d ^= this.b
    this.b ^= this.c
    this.a ^= this.d
    this.c ^= t
    this.d = rotl(this.d, 11)
    return r
  }
  /** A random 64-bit id, never 0. */
  u64(): bigint {
    const v = (BigInt(this.u32()) << 32n) | BigInt(this.u32())
    return v === 0n ? 1n : v
  }
  /** Uniform in [0, 1). */
  next(): number {
    return this.u32() / 4294967296
  }
  chance(p: number): boolean {
    return p > 0 && this.next() < p
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1))
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0
}
