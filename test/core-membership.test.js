// What the reliability core offers the membership protocol (ts/membership/):
// CONTROL datagrams, suspicion without removal, Exclude() and Forget().
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Net, MS, CONTROL, STATUS, range, defaults } from './helpers/net.js'
import { addon } from '../dist/engine.js'

const hex = (i) => (i + 1).toString(16).padStart(16, '0')

test('core – CONTROL goes unicast to a known peer, multicast otherwise, never back to its sender', () => {
  const net = new Net(3)
  net.introduce()
  assert.ok(net.cores[0].control(new Uint8Array([1, 2, 3]), hex(1), net.now))
  net.collect()
  const unicast = net.queue.filter((p) => p.type === CONTROL)
  assert.is(unicast.length, 1)
  assert.is(unicast[0].to, 1)
  net.deliver()
  assert.equal([...net.controls[1][0].data], [1, 2, 3])
  assert.is(net.controls[1][0].sender, hex(0))
  net.cores[0].control(new Uint8Array([9]), null, net.now)
  net.deliver()
  assert.is(net.controls[0].length, 0, 'own multicast CONTROL is not handed back')
  assert.is(net.controls[1].length, 2)
  assert.is(net.controls[2].length, 1)
  assert.not.ok(net.cores[0].control(new Uint8Array(2000), null, net.now), 'larger than a datagram: refused')
})

test("core – a client core (open groups) sends no STATUS, hears CONTROL only, and members answer it at its own address (contacts)", () => {
  const net = new Net(2)
  net.cores.push(new addon.ManualCore({ ...defaults, name: 'c', self: 3n, client: true }, net.now))
  net.delivered.push([])
  net.peerEvents.push([])
  net.controls.push([])
  net.introduce()
  net.run(50 * MS, 1 * MS)
  const sent = []
  const all = net.deliver.bind(net)
  net.deliver = (filter) => all((p) => (sent.push(p), filter ? filter(p) : true))
  net.run(100 * MS, 1 * MS)
  assert.not.ok(sent.some((p) => p.from === 2 && p.type === STATUS), 'the client sends no STATUS')
  assert.ok(sent.some((p) => p.from === 0 && p.type === STATUS))
  assert.not.ok(net.peerEvents[0].some((e) => e.id === hex(2)), 'no member takes the client for a peer')
  assert.not.ok(net.peerEvents[2].some((e) => e.id === hex(0)), 'nor the client a member')
  // HELLO to the group; a member answers the client alone.
  net.cores[2].control(Uint8Array.of(32, 99), null, net.now)
  net.deliver()
  assert.equal(net.controls[0].map((c) => [c.sender, [...c.data]]), [[hex(2), [32, 99]]])
  sent.length = 0
  net.cores[0].control(Uint8Array.of(33), hex(2), net.now)
  net.deliver()
  assert.equal(sent.filter((p) => p.type === CONTROL).map((p) => p.to), [2], "unicast to the client's address")
  assert.equal(net.controls[2].map((c) => [c.sender, [...c.data]]), [[hex(0), [33]]])
  sent.length = 0
  net.cores[2].control(Uint8Array.of(34), hex(0), net.now)
  net.deliver()
  assert.equal(sent.filter((p) => p.type === CONTROL).map((p) => p.to), [0], "and the client to the member's")
  // The group's DATA reaches the client (multicast here): dropped, counted, never delivered.
  net.send(0, 3)
  net.run(120 * MS, 1 * MS)
  assert.is(net.delivered[2].length, 0)
  assert.is(net.delivered[1].length, 3)
  assert.ok(net.cores[2].counters().rejectNotForClient > 0)
})

test('core – with autoRemove off a silent peer is suspected once, kept, and up again when heard', () => {
  const net = new Net(2, { autoRemove: false, suspectTimeoutNs: 50 * MS })
  net.introduce()
  const silent = (p) => p.from !== 1
  net.run(80 * MS, 1 * MS, silent)
  const downs = net.peerEvents[0].filter((e) => e.event === 'down')
  assert.is(downs.length, 1)
  assert.is(downs[0].reason, 'silent')
  net.run(200 * MS, 1 * MS, silent)
  assert.is(net.peerEvents[0].filter((e) => e.event === 'down').length, 1, 'reported once')
  // Still a peer: its stream is received where it left off.
  net.send(1, 5)
  net.run(210 * MS, 1 * MS)
  assert.equal(net.seqs(0, net.peerOf(0, 1)), range(1, 5))
  const ups = net.peerEvents[0].filter((e) => e.event === 'up' && e.id === hex(1))
  assert.is(ups.length, 2, 'heard again: up once more')
})

test('core – Exclude() stops a silent peer from holding the window shut; Forget() drops it', () => {
  const net = new Net(3, { autoRemove: false, windowBytes: 8 * 1024, datagramSize: 1024 })
  net.introduce()
  const cut2 = (p) => p.from !== 2 && p.to !== 2
  let sent = net.send(0, 200)
  net.run(30 * MS, 1 * MS, cut2)
  assert.ok(sent < 200, 'the window filled: core 2 never acks')
  const before = sent
  net.run(60 * MS, 1 * MS, cut2)
  sent += net.send(0, 200 - sent)
  assert.is(sent, before, 'still shut while core 2 counts')
  net.cores[0].exclude(hex(2))
  for (let t = 60; sent < 200 && t < 200; t += 5) {
    net.run(t * MS, 1 * MS, cut2)
    sent += net.send(0, 200 - sent)
  }
  net.run(net.now + 30 * MS, 1 * MS, cut2)
  assert.is(sent, 200, 'the window opened once core 2 no longer counted')
  assert.equal(net.seqs(1, net.peerOf(1, 0)), range(1, 200))
  net.cores[0].forget(hex(2))
  net.collect()
  const forgotten = net.peerEvents[0].filter((e) => e.event === 'down' && e.reason === 'forgotten')
  assert.is(forgotten.length, 1)
  // Forgotten: its STATUS makes it a new peer again (the membership decides
  // whether to listen), with a fresh stream.
  assert.is(net.cores[0].counters().suspicions, 0, 'suspectTimeout never ran out here')
})

test('core – inMessage() is true between the first and last fragment', () => {
  const net = new Net(1)
  const core = net.cores[0]
  core.submit(new Uint8Array(10), 1, 1, 0)
  assert.ok(core.inMessage())
  core.submit(new Uint8Array(10), 1, 2, 0)
  assert.ok(core.inMessage())
  core.submit(new Uint8Array(10), 1, 3, 0)
  assert.not.ok(core.inMessage())
  core.flush(0)
  assert.is(core.highestSent(), 3)
})

test.run()
