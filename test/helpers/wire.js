// A small, independent JS encoder of troupe's wire format (native/wire.h),
// so that tests can craft valid, broken and hostile datagrams.
export const MAGIC = 0x5254

export function header(type, { group = 0x1234abcd, sender = 1n, view = 0, length, version = 1, magic = MAGIC } = {}, total) {
  const b = new Uint8Array(total)
  const v = new DataView(b.buffer)
  v.setUint16(0, magic, true)
  b[2] = version
  b[3] = type
  v.setUint32(4, group, true)
  v.setBigUint64(8, BigInt(sender), true)
  v.setUint32(16, view, true)
  v.setUint32(20, length ?? total, true)
  return { b, v }
}

export function data(firstSeq, messages, opts = {}) {
  const total = 40 + messages.reduce((n, m) => n + 4 + m.length, 0)
  const { b, v } = header(1, opts, total)
  v.setBigUint64(24, BigInt(firstSeq), true)
  v.setUint16(32, messages.length, true)
  let at = 40
  for (const m of messages) {
    v.setUint16(at, m.length, true)
    b[at + 2] = opts.order ?? 1
    b[at + 3] = 0
    b.set(m, at + 4)
    at += 4 + m.length
  }
  return b
}

export function status(highestSent, name, acks = [], opts = {}) {
  const nameBytes = new TextEncoder().encode(name)
  const total = 48 + nameBytes.length + acks.length * 16
  const { b, v } = header(2, opts, total)
  v.setBigUint64(24, BigInt(highestSent), true)
  v.setBigUint64(32, BigInt(opts.lowestKept ?? 1), true)
  b[40] = nameBytes.length
  v.setUint16(42, acks.length, true)
  b.set(nameBytes, 48)
  acks.forEach(([sender, ack], i) => {
    v.setBigUint64(48 + nameBytes.length + i * 16, BigInt(sender), true)
    v.setBigUint64(56 + nameBytes.length + i * 16, BigInt(ack), true)
  })
  return b
}

export function nak(target, ranges, opts = {}) {
  const total = 40 + ranges.length * 16
  const { b, v } = header(3, opts, total)
  v.setBigUint64(24, BigInt(target), true)
  v.setUint16(32, ranges.length, true)
  ranges.forEach(([first, last], i) => {
    v.setBigUint64(40 + i * 16, BigInt(first), true)
    v.setBigUint64(48 + i * 16, BigInt(last), true)
  })
  return b
}

/** Small seeded generator (mulberry32) for reproducible hostile input. */
export function rng(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A random mutation of a datagram: flipped bytes, truncation, extension or garbage. */
export function mutate(d, random) {
  const kind = Math.floor(random() * 4)
  if (kind === 0) {
    const m = d.slice()
    for (let i = 0, n = 1 + Math.floor(random() * 4); i < n; i++) m[Math.floor(random() * m.length)] ^= 1 + Math.floor(random() * 255)
    return m
  }
  if (kind === 1) return d.slice(0, Math.floor(random() * d.length))
  if (kind === 2) {
    const m = new Uint8Array(d.length + 1 + Math.floor(random() * 64))
    m.set(d)
    return m
  }
  const g = new Uint8Array(Math.floor(random() * 200))
  for (let i = 0; i < g.length; i++) g[i] = Math.floor(random() * 256)
  return g
}
