// fallback.ts (transport 'auto'), sans-IO: whom a member asks for unicast,
// whom it serves, and what happens when a member is forgotten and comes back.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Fallback } from '../dist/fallback.js'

function host() {
  const h = {
    t: 0, self: 'f'.repeat(16), list: [], ownSilent: 0, asks: [], unicast: [], routes: [],
    peers: () => h.list, selfSilentMs: () => h.ownSilent, now: () => h.t,
    ask: (hex, on) => h.asks.push([hex, on]), setUnicast: (hex, on) => h.unicast.push([hex, on]), route: (hex, dir, on) => h.routes.push([hex, dir, on]),
  }
  return h
}
const A = 'a'.repeat(16)

test('a member heard whose multicast is silent past fallbackTimeout is asked for unicast; asked to stop once its multicast is back', () => {
  const h = host()
  const f = new Fallback(h, 500, 2000)
  h.list = [{ id: A, silentMs: 10, multicastSilentMs: 100 }]
  f.tick()
  assert.equal(h.asks, [], 'multicast heard lately: nothing asked')
  h.t = 1000
  h.list = [{ id: A, silentMs: 10, multicastSilentMs: 900 }]
  f.tick()
  assert.equal(h.asks, [[A, true]])
  assert.equal(h.routes, [[A, 'in', true]])
  assert.equal(f.routes.unicastIn, [A])
  h.t = 2000
  h.list = [{ id: A, silentMs: 10, multicastSilentMs: 50 }]
  f.tick()
  assert.equal(h.asks.at(-1), [A, false])
  assert.equal(f.routes.unicastIn, [])
})

test("served members: asked again, the engine is told again; a member gone from the engine is no longer served, and is served again when it asks", () => {
  const h = host()
  const f = new Fallback(h, 500, 2000)
  h.list = [{ id: A, silentMs: 10, multicastSilentMs: 10 }]
  f.onAsk(A, true)
  f.onAsk(A, true) // (asks come again every few seconds)
  assert.equal(h.unicast, [[A, true], [A, true]], 'the engine is told each time (it may have forgotten and heard it again)')
  assert.equal(h.routes, [[A, 'out', true]], 'one route event')
  assert.equal(f.routes.unicastOut, [A])
  h.list = [] // forgotten at a view change (a minority side)
  h.t = 1000
  f.tick()
  assert.equal(f.routes.unicastOut, [])
  assert.equal(h.routes.at(-1), [A, 'out', false])
  h.list = [{ id: A, silentMs: 10, multicastSilentMs: 10 }] // heard again, and it asks
  f.onAsk(A, true)
  assert.equal(f.routes.unicastOut, [A])
  assert.equal(h.unicast.at(-1), [A, true])
})

test('our own datagrams come back by unicast while our multicast loop is silent past fallbackTimeout', () => {
  const h = host()
  const f = new Fallback(h, 500, 2000)
  h.ownSilent = -1
  f.tick()
  assert.ok(f.ownByUnicast)
  assert.equal(h.unicast, [[h.self, true]])
  h.t = 1000
  h.ownSilent = 20
  f.tick()
  assert.not.ok(f.ownByUnicast)
  assert.equal(h.unicast.at(-1), [h.self, false])
})

test.run()
