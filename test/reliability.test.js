// The reliability core (native/reliability.cc) driven by hand: made-up time,
// a network where the test decides which packet is lost. Two members:
//
//   A (core 0) ── DATA d1 d2 d3 d4 ──► B (core 1)
//                      ✗ (lost)
//   B ── NAK(d2 seqs) after ~nakDelay ──► A ── retransmit d2 ──► B
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Net, MS, DATA, NAK, STATUS, range, defaults } from './helpers/net.js'
import { nak } from './helpers/wire.js'

const dataTo = (to, nth) => {
  let seen = 0
  return (p) => !(p.type === DATA && p.to === to && ++seen === nth)
}

test('reliability – a lost datagram is NAKed after the jittered delay and repaired in order', () => {
  const net = new Net(2)
  net.introduce()
  assert.is(net.send(0, 30), 30) // 100 B messages, 1024 B datagrams: 4 datagrams
  net.deliver(dataTo(1, 2))
  const a = net.peerOf(1, 0)
  assert.equal(net.seqs(1, a), range(1, 9), 'B delivers up to the gap, nothing after it')
  net.run(0.4 * MS, 0.1 * MS)
  assert.is(net.cores[1].counters().naksSent, 0, 'no NAK before nakDelay/2')
  net.run(3 * MS, 0.1 * MS)
  const c = net.cores[1].counters()
  assert.ok(c.naksSent >= 1, 'B NAKed the gap')
  assert.is(c.repaired, 9, 'the 9 lost messages arrived after the NAK')
  assert.equal(net.seqs(1, a), range(1, 30), 'every message once, in order')
  assert.ok(net.cores[0].counters().retransmits >= 1)
})

test('reliability – reordering shorter than the NAK delay causes no NAK', () => {
  const net = new Net(2)
  net.introduce()
  net.send(0, 30)
  net.collect()
  // Swap the 2nd and 3rd DATA datagrams for B.
  const q = net.queue
  const forB = q.filter((p) => p.type === DATA && p.to === 1)
  ;[forB[1].data, forB[2].data] = [forB[2].data, forB[1].data]
  net.deliver()
  net.run(30 * MS, 0.2 * MS)
  assert.is(net.cores[1].counters().naksSent, 0)
  assert.equal(net.seqs(1, net.peerOf(1, 0)), range(1, 30))
})

test('reliability – a seq is not NAKed again before nakRetry, and repeat NAKs within xmitHold are suppressed', () => {
  const net = new Net(2)
  net.introduce()
  net.send(0, 30)
  net.deliver(dataTo(1, 2))
  // Lose every retransmission for a while: B must re-ask, but only every nakRetry (10 ms).
  const noRepair = (p) => !(p.type === DATA && p.to === 1)
  net.run(2 * MS, 0.1 * MS, noRepair)
  const first = net.cores[1].counters().naksSent
  assert.is(first, 1)
  net.run(9 * MS, 0.1 * MS, noRepair)
  assert.is(net.cores[1].counters().naksSent, 1, 'no second NAK within nakRetry')
  net.run(14 * MS, 0.1 * MS, noRepair)
  assert.is(net.cores[1].counters().naksSent, 2, 'asked again after nakRetry')
  // The same NAK arriving twice at A within xmitHold causes one retransmission.
  let captured = null
  net.run(25 * MS, 0.1 * MS, (p) => {
    if (p.type === NAK) captured = p
    return p.type !== NAK && !(p.type === DATA && p.to === 1)
  })
  assert.ok(captured, 'B asked a third time')
  const before = net.cores[0].counters()
  net.cores[0].input(captured.data, 2, 2, net.now)
  net.cores[0].input(captured.data, 2, 2, net.now + 0.5 * MS)
  const after = net.cores[0].counters()
  assert.is(after.retransmits - before.retransmits, 1)
  assert.is(after.xmitSuppressed - before.xmitSuppressed, 1)
  net.queue = []
  net.run(60 * MS, 0.5 * MS)
  assert.equal(net.seqs(1, net.peerOf(1, 0)), range(1, 30))
})

test('reliability – NAKs are answered only for a known member at its own address, and within its retransmission budget', () => {
  const net = new Net(2)
  net.introduce()
  // B receives nothing: A's log keeps all 300 messages (about 30 datagrams).
  net.send(0, 300)
  net.deliver((p) => !(p.type === DATA && p.to === 1))
  const a = net.cores[0]
  const ask = (sender, from) => {
    a.input(nak(1n, [[1, 300]], { group: defaults.groupHash, sender }), from, from, net.now)
    a.take()
  }
  let before = a.counters()
  ask(99n, 2) // nobody A knows
  ask(2n, 7) // B's id, from another address (a forged source)
  let after = a.counters()
  assert.is(after.nakRefused - before.nakRefused, 2)
  assert.is(after.retransmits - before.retransmits, 0, 'nothing re-sent to a stranger or a forged address')

  // B itself asks for everything again and again (each time past xmitHold):
  // it gets kXmitBurstWindows (4) windows at once, then its budget is spent.
  before = a.counters()
  const window = defaults.windowBytes
  for (let i = 0; i < 40; i++) {
    net.now += defaults.xmitHoldNs
    ask(2n, 2)
  }
  after = a.counters()
  const resent = after.retransmits - before.retransmits
  const elapsedS = (40 * defaults.xmitHoldNs) / 1e9
  assert.ok(after.xmitLimited > before.xmitLimited, 'the budget ran out')
  // (Each datagram holds 9 of the 100 B messages: 40 + 9 x 104 = 976 bytes; the last one fewer.)
  assert.ok((resent - 40) * 976 <= 4 * window + 16 * window * elapsedS, `re-sent ${resent} datagrams: within the budget`)
  assert.ok(resent >= 30, 'the first asks were answered in full')
  // Later, the budget has refilled.
  net.now += 1000 * MS
  before = a.counters()
  ask(2n, 2)
  assert.ok(a.counters().retransmits - before.retransmits >= 30)
})

test('reliability – a lost last datagram is noticed from the sender\'s STATUS and repaired', () => {
  const net = new Net(2)
  net.introduce()
  net.send(0, 30)
  net.deliver(dataTo(1, 4)) // the last one
  assert.equal(net.seqs(1, net.peerOf(1, 0)), range(1, 27))
  net.run(40 * MS, 0.5 * MS)
  assert.equal(net.seqs(1, net.peerOf(1, 0)), range(1, 30))
  assert.ok(net.cores[1].counters().naksSent >= 1)
})

test('reliability – a single lost message on an otherwise idle stream is repaired', () => {
  const net = new Net(2)
  net.introduce()
  net.send(0, 1)
  net.deliver(dataTo(1, 1))
  assert.equal(net.seqs(1, net.peerOf(1, 0)), [])
  net.run(40 * MS, 0.5 * MS)
  assert.equal(net.seqs(1, net.peerOf(1, 0)), [1])
})

test('reliability – the window counts the bytes sent: datagrams of one small message each fill it by their size, not by datagramSize', () => {
  // 1024 B datagrams, a 4 KiB window: 4 full datagrams, but ~28 datagrams of one 100 B message (144 B each).
  const net = new Net(2, { windowBytes: 4 * 1024 })
  net.introduce()
  const noAcksFromB = (p) => !(p.type === STATUS && p.from === 1 && p.to === 0)
  let sent = 0
  for (let i = 0; i < 100; i++) {
    if (net.send(0, 1) === 0) break // (each send() flushes: one datagram per message, as a paced sender makes)
    sent++
  }
  net.deliver(noAcksFromB)
  assert.ok(sent >= 20 && sent <= 29, `one-message datagrams in a 4 KiB window: ${sent}`)
  const c = net.cores[0].counters()
  assert.ok(c.windowFull >= 1, 'and then the window is full')
  assert.ok(c.logBytes <= 4 * 1024, `the log holds no more than the window: ${c.logBytes}`)
  assert.equal(net.seqs(1, net.peerOf(1, 0)), range(1, sent), 'B has every one of them')
  net.run(net.now + 30 * MS, 1 * MS)
  assert.is(net.cores[0].counters().logBytes, 0, 'acked: the log is empty')
  assert.is(net.send(0, 1), 1, 'and the window open')
})

test('reliability – the window grows for large messages (64 of the largest sent lately, up to 4 × windowBytes) and shrinks back after them', () => {
  // 2 KiB datagrams, a 64 KiB window, no acks: how many bytes go out before the window is full?
  const net = new Net(2, { windowBytes: 64 * 1024, datagramSize: 2048 })
  net.introduce()
  const core = net.cores[0]
  const fill = (messageBytes) => {
    const piece = 1900
    for (let m = 0; m < 1000; m++) {
      for (let at = 0; at < messageBytes; at += piece) {
        const n = Math.min(piece, messageBytes - at)
        const frag = messageBytes <= piece ? 0 : at === 0 ? 1 : at + n >= messageBytes ? 3 : 2
        if (core.submit(new Uint8Array(n), 1, frag, net.now) !== 'ok') return core.counters().logBytes
        core.flush(net.now)
      }
    }
    return core.counters().logBytes
  }
  const ackAll = () => net.run(net.now + 30 * MS, 1 * MS)
  const small = fill(100)
  assert.ok(small > 48 * 1024 && small <= 64 * 1024, `small messages: the window as configured (${small} B in the log)`)
  ackAll()
  const large = fill(40 * 1024)
  assert.ok(large > 200 * 1024 && large <= 256 * 1024, `messages of 40 KiB: about 4 × the window (${large} B in the log)`)
  ackAll()
  fill(100) // many small ones after them: the largest decays by an eighth with each
  ackAll()
  const after = fill(100)
  assert.ok(after <= 64 * 1024, `small again: back to the window as configured (${after} B in the log)`)
  assert.ok(core.counters().logPeakBytes > 200 * 1024 && core.counters().logPeakBytes <= 256 * 1024, 'the log held at most 4 × windowBytes')
})

test("reliability – a member relays another sender's datagrams it kept; a small keep grows to 4 × retainBytes (as far as a window may grow), then holds the newest only, and every byte of them intact", () => {
  const GROWTH = 4 // kWindowGrowth (reliability.h)
  for (const retainBytes of [1 << 20, 4 * 1024]) {
    const net = new Net(3, { retainBytes })
    net.introduce()
    net.send(0, 300, { size: 100 }) // about 34 datagrams of 9 messages
    net.deliver((p) => !(p.type === DATA && p.to === 2)) // C misses all of A's
    const b = net.cores[1]
    const kept = b.counters().retainedBytes
    assert.ok(kept > 0 && kept <= GROWTH * retainBytes, `B keeps at most 4 × retainBytes: ${kept}`)
    if (retainBytes < 1 << 20) assert.ok(kept > retainBytes, `C acks nothing: B's keep grew past retainBytes (${kept})`)
    // C asks B for A's stream (as in a flush after A crashed).
    b.input(nak(1n, [[1, 300]], { group: defaults.groupHash, sender: 3n }), 3, 3, net.now)
    const relayed = b.take().sent.filter((s) => s.to !== null && s.to.ip === 3)
    assert.is(b.counters().relayed, relayed.length)
    for (const s of relayed) net.cores[2].input(s.data, 2, 2, net.now)
    net.collect()
    const got = net.seqs(2, net.peerOf(2, 0))
    if (retainBytes === 1 << 20) {
      assert.equal(got, range(1, 300), 'C has all of A from what B kept')
    } else {
      // 16 KiB keeps the newest 15-17 datagrams (of about 34): C holds them (out of order:
      // nothing delivered before the gap), and a later NAK to A fills the rest.
      assert.ok(relayed.length >= 14 && relayed.length <= 17, `the newest datagrams only: ${relayed.length}`)
      const firsts = relayed.map((s) => Number(new DataView(s.data.buffer, s.data.byteOffset).getBigUint64(24, true)))
      assert.equal(firsts, [...firsts].sort((x, y) => x - y), 'oldest first')
      assert.ok(firsts.at(-1) > 290 && firsts[0] > 130, `the newest of A's stream: from seq ${firsts[0]}`)
      assert.equal(got, [], 'nothing before the gap')
      net.run(net.now + 40 * MS, 0.5 * MS)
      assert.equal(net.seqs(2, net.peerOf(2, 0)), range(1, 300), 'repaired from A; the relayed ones were whole')
    }
  }
})

test('reliability – a large datagram is kept for relaying where it arrived (its unit taken from the transport, not copied), counted by its unit; datagrams that arrive after it do not touch it, and it is relayed whole', () => {
  const UNIT = 64 * 1024 // DatagramPool::kBytes; kept in place from half of it
  const net = new Net(3, { retainBytes: 1 << 20, datagramSize: 65507, windowBytes: 1 << 20 })
  net.introduce()
  const pattern = (tag, i) => (tag * 31 + i * 7) & 255
  const submit = (tag, size) => {
    const data = new Uint8Array(size)
    for (let i = 0; i < size; i++) data[i] = pattern(tag, i)
    assert.is(net.cores[0].submit(data, 1, 0, net.now), 'ok')
  }
  // Five 40,000 B messages, a datagram each (two do not fit one), then 20
  // of 500 B in one datagram of ~10 KB (copied); C misses every one of A's.
  for (let tag = 1; tag <= 5; tag++) {
    submit(tag, 40_000)
    net.cores[0].flush(net.now)
  }
  for (let tag = 6; tag <= 25; tag++) submit(tag, 500)
  net.cores[0].flush(net.now)
  net.collect()
  const missesA = (p) => !(p.type === DATA && p.to === 2)
  net.deliver(missesA)
  net.cores[0].timer(net.now) // more datagrams reach B after the large ones (STATUS), each into the unit it was given back
  net.deliver(missesA)
  const b = net.cores[1].counters()
  assert.is(b.keptInPlace, 5, 'the five large datagrams are kept where they arrived')
  assert.ok(b.retainedBytes > 5 * UNIT && b.retainedBytes < 5 * UNIT + 11_000, `each counts its unit, the small one its bytes: ${b.retainedBytes} B`)
  // C asks B for A's stream (as in a flush after A crashed).
  net.cores[1].input(nak(1n, [[1, 25]], { group: defaults.groupHash, sender: 3n }), 3, 3, net.now)
  const relayed = net.cores[1].take().sent.filter((s) => s.to !== null && s.to.ip === 3)
  assert.is(relayed.length, 6)
  for (const s of relayed) net.cores[2].input(s.data, 2, 2, net.now)
  net.collect()
  const got = net.delivered[2].filter((d) => d.peer === net.peerOf(2, 0))
  assert.equal(got.map((d) => d.seq), range(1, 25), 'C has all of A from what B kept')
  for (const [k, d] of got.entries()) {
    const tag = k + 1
    assert.is(d.data.length, tag <= 5 ? 40_000 : 500)
    assert.ok(d.data.every((x, i) => x === pattern(tag, i)), `message ${tag} intact`)
  }
  // A stream that may keep less than a unit (4 × 12 KiB) copies a large datagram instead.
  const small = new Net(2, { retainBytes: 12 * 1024, datagramSize: 65507, windowBytes: 1 << 20 })
  small.introduce()
  assert.is(small.cores[0].submit(new Uint8Array(40_000).fill(7), 1, 0, small.now), 'ok')
  small.cores[0].flush(small.now)
  small.deliver((p) => !(p.type === STATUS && p.from === 0)) // (A's STATUS would say it holds it: B would let it go)
  const c = small.cores[1].counters()
  assert.is(c.keptInPlace, 0)
  assert.ok(c.retainedBytes >= 40_000 && c.retainedBytes < 41_000, `copied: ${c.retainedBytes} B kept`)
  assert.is(c.keptDropped, 0)
})

test("reliability – datagrams kept for relaying go once every member holds them, the sender too, not before", () => {
  // A sender whose own messages do not come back to it holds all it sent: its
  // STATUS says so, or the others would keep its stream until their rings overflowed.
  for (const receiveOwn of [true, false]) {
    const net = new Net(3, { retainBytes: 1 << 20, receiveOwn })
    net.introduce()
    net.send(0, 300, { size: 100 })
    const noAcksFromC = (p) => !(p.type === STATUS && p.from === 2)
    net.run(net.now + 40 * MS, 1 * MS, noAcksFromC)
    const b = net.cores[1]
    assert.ok(b.counters().retainedBytes > 0, `receiveOwn ${receiveOwn}: C has not acked A's stream: B keeps it (C may ask B for it)`)
    net.run(net.now + 40 * MS, 1 * MS)
    assert.is(b.counters().retainedBytes, 0, `receiveOwn ${receiveOwn}: all three hold it: B keeps nothing`)
    assert.is(net.cores[0].counters().retainedBytes, 0, 'nor A of its own')
    // Kept again as the stream goes on: the ring starts over.
    net.send(0, 100, { size: 100 })
    net.run(net.now + 2 * MS, 0.5 * MS, noAcksFromC)
    assert.ok(b.counters().retainedBytes > 0)
  }
})

test('reliability – a receiver that took in a quarter of a window of bytes acks early, not at the next STATUS interval', () => {
  // A STATUS every 100 ms; 64 KiB window: a quarter is 16 KiB (~160 messages of 100 B, ~17 of 900 B, one a datagram).
  const twoMembers = () => {
    const net = new Net(2, { windowBytes: 64 * 1024, statusIntervalNs: 100 * MS })
    net.introduce()
    net.run(5 * MS, 0.5 * MS)
    return net
  }
  // Sends, delivers, runs for `ms`; what A now knows B holds.
  const sendAndRun = (net, count, size, ms) => {
    net.send(0, count, { size })
    net.deliver()
    net.run(net.now + ms * MS, 0.1 * MS)
    return net.cores[0].counters().stableSeq
  }
  for (const size of [100, 900]) {
    const net = twoMembers()
    const count = size === 100 ? 200 : 20
    assert.is(sendAndRun(net, count, size, 3), count, `${size} B: B acked all ${count} within 3 ms of a 100 ms STATUS interval`)
    assert.is(net.cores[0].counters().logBytes, 0, `${size} B: A's log is free`)
  }
  // A second quarter within the gap between early STATUSes (1 ms), then
  // nothing: its STATUS goes when the gap ends (A may be waiting for it: no
  // datagram would come to ask again), not at the next interval.
  const net = twoMembers()
  assert.is(sendAndRun(net, 200, 100, 0.2), 200, 'the first quarter: acked at once')
  assert.is(sendAndRun(net, 200, 100, 0.2), 200, 'the second: not within the gap')
  net.run(net.now + 2 * MS, 0.1 * MS)
  assert.is(net.cores[0].counters().stableSeq, 400, 'the second: acked when the gap ended')
  // Fewer bytes than that wait for the interval.
  assert.is(sendAndRun(twoMembers(), 20, 100, 3), 0, 'a little data: acked at the next interval')
})

test('reliability – alone in a group, our own acks free the log', () => {
  for (const receiveOwn of [true, false]) {
    const net = new Net(1, { windowBytes: 4 * 1024, receiveOwn })
    net.introduce()
    let sent = 0
    for (let round = 0; round < 10; round++) {
      sent += net.send(0, 30)
      net.run(net.now + 20 * MS, 1 * MS)
    }
    assert.is(sent, 300, `receiveOwn ${receiveOwn}: the window kept opening`)
    assert.is(net.cores[0].counters().logBytes, 0)
  }
})

test('reliability – stability frees the retransmit log; a member that never acks fills the window', () => {
  const net = new Net(2, { windowBytes: 4 * 1024 })
  net.introduce()
  const noAcksFromB = (p) => !(p.type === STATUS && p.from === 1 && p.to === 0)
  const sent = net.send(0, 200)
  net.deliver(noAcksFromB)
  assert.ok(sent < 200, 'the window filled')
  assert.ok(sent >= 30 && sent <= 40, `4 datagrams of ~9 messages fit, sent ${sent}`)
  net.run(50 * MS, 1 * MS, noAcksFromB)
  let c = net.cores[0].counters()
  assert.ok(c.windowFull >= 1)
  assert.ok(c.logBytes > 3 * 1024 && c.logBytes <= 4 * 1024, `log holds the window: ${c.logBytes}`)
  assert.is(net.send(0, 1), 0, 'still full while B is silent about us')
  net.run(80 * MS, 1 * MS)
  c = net.cores[0].counters()
  assert.is(c.logBytes, 0, 'B acked everything: log empty')
  assert.is(c.stableSeq, sent)
  assert.is(net.send(0, 1), 1, 'the window is open again')
})

test('reliability – a full sink holds messages and pump() delivers them in order', () => {
  const net = new Net(2)
  net.introduce()
  net.cores[1].setRoom(3)
  net.send(0, 9)
  net.deliver()
  const a = net.peerOf(1, 0)
  assert.equal(net.seqs(1, a), [1, 2, 3])
  assert.is(net.cores[1].counters().heldMessages, 6)
  net.cores[1].setRoom()
  assert.ok(net.cores[1].pump(net.now))
  net.collect()
  assert.equal(net.seqs(1, a), range(1, 9))
  assert.is(net.cores[1].counters().heldMessages, 0)
})

test('reliability – unordered messages pass a gap at once and are never delivered twice', () => {
  const net = new Net(2)
  net.introduce()
  net.send(0, 30, { order: 0 })
  net.deliver(dataTo(1, 2))
  const a = net.peerOf(1, 0)
  assert.equal(net.seqs(1, a), [...range(1, 9), ...range(19, 30)], 'delivered on arrival across the gap')
  net.run(20 * MS, 0.5 * MS)
  const seqs = net.seqs(1, a)
  assert.equal([...seqs].sort((x, y) => x - y), range(1, 30), 'each once')
})

test('reliability – a silent member is reported down after suspectTimeout; LEAVE at once', () => {
  const net = new Net(3, { suspectTimeoutNs: 100 * MS })
  net.introduce()
  assert.is(net.peerEvents[0].filter((e) => e.event === 'up').length, 3)
  // Core 2 goes silent (all its packets lost); core 1 leaves.
  net.cores[1].leave(net.now)
  net.run(50 * MS, 5 * MS, (p) => p.from !== 2)
  assert.ok(net.peerEvents[0].some((e) => e.event === 'down' && e.reason === 'left' && e.id.endsWith('2')))
  assert.not.ok(net.peerEvents[0].some((e) => e.reason === 'silent'))
  net.run(200 * MS, 5 * MS, (p) => p.from !== 2)
  assert.ok(net.peerEvents[0].some((e) => e.event === 'down' && e.reason === 'silent' && e.id.endsWith('3')))
})

test('reliability – a receiver that first hears a sender mid-stream joins at its end', () => {
  const net = new Net(2)
  // Only A is up; it sends 20 messages nobody else hears.
  net.cores[0].timer(net.now)
  net.send(0, 20)
  net.deliver((p) => p.to === 0)
  net.run(20 * MS, 1 * MS)
  net.send(0, 5, { tag: 100 })
  net.run(40 * MS, 1 * MS)
  assert.equal(net.seqs(1, net.peerOf(1, 0)), range(21, 25))
  assert.is(net.cores[1].counters().unrecoverable, 0)
})


test('reliability – the window grows where the round trip holds the rate back (a larger one took in more), not where the link does', () => {
  const W = 64 * 1024
  // A keeps its window full for `ms` (900 B messages: one a datagram); what B delivered meanwhile.
  const fill = (net, ms) => {
    const before = net.delivered[1].length
    const end = net.now + ms * MS
    while (net.now < end) {
      net.send(0, 100, { size: 900 })
      net.run(net.now + 0.5 * MS, 0.5 * MS)
    }
    return net.delivered[1].length - before
  }
  // 5 ms each way: a window of W moves at most W a 10 ms round trip (~70 messages).
  const far = new Net(2, { windowBytes: W }, 0, { latencyNs: 5 * MS })
  far.run(30 * MS, 0.5 * MS)
  fill(far, 5000)
  const a = far.cores[0].counters()
  assert.ok(a.ackRoundTripNs >= 10 * MS, `the shortest ack round trip is the path's: ${a.ackRoundTripNs} ns`)
  assert.ok(a.window >= 3 * W, `the window grew toward its bound (${4 * W}): ${a.window}`)
  const perSecond = fill(far, 1000)
  const staticBound = (W / 944) * 100 // datagrams of 944 B a window, 100 round trips a second
  assert.ok(perSecond > 2 * staticBound, `${perSecond} messages in a second, where a window of W moves at most ${Math.round(staticBound)}`)
  assert.is(far.seqs(1, far.peerOf(1, 0)).length, far.delivered[1].length, 'every message in order, once')
  // The path turns into a 2 MB/s link: smaller windows take in as much, and
  // the tries walk it back to W (125 ms rounds: a try every few seconds).
  far.path = { latencyNs: 0.1 * MS, bytesPerSec: 2e6 }
  fill(far, 30_000)
  assert.is(far.cores[0].counters().window, W, 'back to the window as configured')

  // A 2 MB/s link, 0.1 ms each way: the link sets the rate; W is already far more than it needs.
  const slow = new Net(2, { windowBytes: W }, 0, { latencyNs: 0.1 * MS, bytesPerSec: 2e6 })
  slow.run(30 * MS, 0.5 * MS)
  fill(slow, 3000)
  const s = slow.cores[0].counters()
  assert.is(s.window, W, 'the window stays as configured')
  assert.ok(s.logPeakBytes <= W, `nothing past it was ever in flight: ${s.logPeakBytes}`)
  assert.ok(s.deliveryRate > 1.5e6 && s.deliveryRate <= 2.2e6, `the rate measured is the link's: ${s.deliveryRate} B/s`)
})

test('reliability – the window counts messages too: no more in flight than a receiver has slots for', () => {
  // 4 B messages: ~123 a 1 KiB datagram, ~7,800 in the 64 KiB window; 1,024 slots.
  const net = new Net(2, { receiveSlots: 1024 })
  net.introduce()
  let sent = net.send(0, 3000, { size: 4 })
  assert.is(sent, 1024, 'as many as the receiver has slots for')
  for (let round = 0; round < 200 && sent < 3000; round++) {
    sent += net.send(0, 3000 - sent, { size: 4 })
    net.run(net.now + 1 * MS, 0.5 * MS)
  }
  net.run(net.now + 20 * MS, 0.5 * MS)
  assert.equal(net.seqs(1, net.peerOf(1, 0)), range(1, 3000), 'all of them, in order')
  assert.is(net.cores[1].counters().overrun, 0, 'none past its slots')
})

test('reliability – what a member keeps for relaying, all senders together, stays within 16 × retainBytes (the oldest go, counted)', () => {
  const retainBytes = 4 * 1024 // a ring grows to 16 KiB; all together at most 64 KiB
  const net = new Net(8, { retainBytes })
  net.introduce()
  // Senders 0-5, ~56 KB each; member 7 holds nothing and says nothing: nobody may let any go.
  const toSeven = (p) => p.to !== 7 && p.from !== 7
  for (let s = 0; s < 6; s++) net.send(s, 60, { size: 900 })
  net.run(net.now + 20 * MS, 1 * MS, toSeven)
  const b = net.cores[6].counters()
  assert.ok(b.retainedBytes <= 16 * retainBytes, `within the bound: ${b.retainedBytes}`)
  assert.ok(b.retainedBytes > 12 * retainBytes, `and near it (six rings of up to 16 KiB would hold ~96 KiB): ${b.retainedBytes}`)
  assert.ok(b.keptDropped > 6 * 56_000 - 16 * retainBytes - 1024, `what went is counted: ${b.keptDropped} B`)
  for (let s = 0; s < 6; s++) assert.equal(net.seqs(6, net.peerOf(6, s)), range(1, 60), `every message of sender ${s} delivered all the same`)
})

test("reliability – a sender whose own messages do not come back to it says early that it holds what it sent: the others let go of what they kept for it within milliseconds", () => {
  // A STATUS every 100 ms; 200 messages of 100 B are more than a quarter of the 64 KiB window.
  const net = new Net(3, { receiveOwn: false, statusIntervalNs: 100 * MS, retainBytes: 1 << 20 })
  net.introduce()
  net.run(5 * MS, 0.5 * MS)
  net.send(0, 200, { size: 100 })
  net.deliver()
  assert.ok(net.cores[1].counters().retainedBytes > 0, 'B keeps A\'s stream at first')
  net.run(net.now + 3 * MS, 0.1 * MS)
  assert.is(net.cores[1].counters().retainedBytes, 0, 'and lets it go once A and C said they hold it, long before the 100 ms STATUS')
  assert.equal(net.seqs(1, net.peerOf(1, 0)), range(1, 200))
})


test('reliability – a member keeps a stream for relaying up to 4 × retainBytes while another member lags, and lets none of it go', () => {
  const retainBytes = 16 * 1024
  // 3 ms each way, a datagram a millisecond: what member 1 keeps never
  // empties (the acks it hears are 3 ms old) and goes round; then member 2
  // falls silent for 40 ms (~38 KB more: past retainBytes, within 4 ×).
  const net = new Net(3, { retainBytes }, 0, { latencyNs: 3 * MS, bytesPerSec: 0 })
  net.introduce()
  const tick = (filter) => {
    net.send(0, 1, { size: 900 })
    net.run(net.now + 1 * MS, 0.5 * MS, filter)
  }
  for (let i = 0; i < 60; i++) tick()
  const before = net.cores[1].counters()
  assert.ok(before.retainedBytes > 0, `something kept all along: ${before.retainedBytes} B`)
  for (let i = 0; i < 40; i++) tick((p) => p.from !== 2)
  const b = net.cores[1].counters()
  assert.ok(b.retainedBytes > 2 * retainBytes && b.retainedBytes <= 4 * retainBytes, `member 1 keeps what member 2 may miss: ${b.retainedBytes} B`)
  assert.is(b.keptDropped, 0, 'and let none of it go')
})

test('reliability – a large message that does not fit what is left of a datagram fills it with its start, and the rest opens the next: fewer datagrams, every message whole at the receiver', () => {
  // 16 KiB datagrams: two messages of 6,000 B leave ~4.3 KB, which the third's start fills.
  const datagrams = (order) => {
    const net = new Net(2, { datagramSize: 16384, windowBytes: 1 << 20 })
    net.introduce()
    let sent = 0
    const count = (p) => {
      if (p.type === DATA && p.from === 0 && p.to === 1) sent++
      return true
    }
    net.send(0, 10, { size: 6000, order })
    net.run(net.now + 5 * MS, 0.5 * MS, count)
    const got = net.delivered[1].filter((d) => d.peer === net.peerOf(1, 0))
    assert.is(got.length, 10, `order ${order}: ten messages delivered`)
    got.forEach((d, i) => {
      assert.is(d.data.length, 6000, `order ${order}: message ${i} whole`)
      assert.is(new DataView(d.data.buffer, d.data.byteOffset).getUint32(0, true), i, `order ${order}: message ${i} in its place`)
    })
    return { sent, assembled: got.filter((d) => d.first !== undefined).length }
  }
  const fifo = datagrams(1)
  assert.is(fifo.sent, 4, 'fifo: 60 KB in 4 datagrams of 16 KiB, not 5 of two messages each')
  assert.is(fifo.assembled, 2, "fifo: the two split put together at the receiver (the third datagram had less than 1 KiB left)")
  const total = datagrams(3)
  assert.is(total.sent, 5, 'total: never split (the sequencer places whole messages)')
  assert.is(total.assembled, 0, 'total: none put together')
})

test.run()
