// The application layer between processes on loopback: a request to every
// member when one of them is SIGKILLed before it answers.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { fileURLToPath } from 'node:url'
import { withMembers } from './helpers/procs.js'
import { uniqueGroup } from './helpers/wait.js'

const script = fileURLToPath(new URL('./helpers/app-member.mjs', import.meta.url))
const allInView = (members, n) =>
  Promise.all(members.map((m) => m.next((x) => x.type === 'view' && x.members.length === n, 15000, `a view of ${n}`)))

test("app processes – request 'all' to 3 members, one SIGKILLed before it answers: 2 responses and the one gone named, at failure detection, not the timeout", async () => {
  const suspectTimeout = 1000
  await withMembers(uniqueGroup('rpc-kill'), ['asker', 'r1', 'r2', 'r3'].map((n) => [n, { suspectTimeout }]), async (members) => {
    const [asker, r1, r2, r3] = members
    await allInView(members, 4)
    r2.command({ cmd: 'hold', text: 'quote?' })
    await r2.next((m) => m.type === 'hold', 10000, 'r2 to hold such requests')
    asker.command({ cmd: 'request', data: 'quote?', options: { responses: 'all', timeout: 60_000 } })
    await r2.next((m) => m.type === 'holding', 10000, 'r2 to hold the request')
    r2.signal('SIGKILL')
    const got = await asker.next((m) => m.type === 'responses' || m.type === 'requestFailed', 60_000, 'the responses')
    assert.is(got.type, 'responses', got.message)
    assert.equal(got.responses.map((r) => r.member).sort(), [r1.me, r3.me].sort())
    assert.equal(got.responses.map((r) => r.text).sort(), ['r1:quote?', 'r3:quote?'])
    assert.equal(got.left, [r2.me])
    assert.equal(got.failed, [])
    // Detection takes suspectTimeout and a flush; the timeout was 60 s.
    assert.ok(got.ms < 10 * suspectTimeout, `resolved after ${got.ms.toFixed(0)} ms`)
  }, script)
})

test.run()
