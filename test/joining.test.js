// The joiner's role (ts/membership/joining.ts) alone, over a fake host: it
// asks to join, and starts the group itself only when nobody answers for the
// discovery time and no lower joiner is about.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Joining } from '../dist/membership/joining.js'

const A = 'a#000000000000000a', B = 'b#000000000000000b', C = 'c#000000000000000c'
const config = { suspectTimeout: 1000, retry: 20, discovery: 200, partitions: 'primary' }

function harness(me) {
  const host = {
    me,
    t: 0,
    joins: 0,
    heardSet: new Set([me]),
    now() { return this.t },
    send(c, to) {
      assert.equal([c, to], [{ kind: 'join', member: me }, null])
      this.joins++
    },
    heard() { return [...this.heardSet] },
  }
  return { host, joining: new Joining(host, config) }
}

test('joining – asks to join every retry interval and, with nobody answering for the discovery time, starts the group', () => {
  const { host, joining } = harness(B)
  for (; host.t < 200; host.t += 10) assert.is(joining.tick(), false)
  assert.is(host.joins, 10)
  assert.is(joining.tick(), true)
})

test('joining – a group is there: it waits while a member or an announce is heard', () => {
  const { host, joining } = harness(B)
  host.heardSet.add(C) // heard, but not as a joiner: a member
  host.t = 300
  assert.is(joining.tick(), false)
  host.heardSet.delete(C)
  joining.heardAnnounce()
  host.t = 450
  assert.is(joining.tick(), false, 'an announce within the discovery time')
  host.t = 500
  assert.is(joining.tick(), true)
})

test('joining – of joiners starting together, the lowest id starts the group; a joiner gone quiet does not count', () => {
  const low = harness(A), high = harness(B)
  low.host.heardSet.add(B)
  high.host.heardSet.add(A)
  for (let t = 0; t <= 250; t += 20) { // each hears the other's JOINs
    low.host.t = high.host.t = t
    low.joining.heardJoiner(B)
    high.joining.heardJoiner(A)
  }
  assert.is(low.joining.tick(), true)
  assert.is(high.joining.tick(), false, 'A is lower')
  high.host.t = 450 // A quiet for the discovery time (it started the group, or is gone)
  high.host.heardSet.delete(A)
  assert.is(high.joining.tick(), true)
})

test.run()
