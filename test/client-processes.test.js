// Open groups between processes on loopback: a client sends total messages
// while the members do, and the member it talks through is SIGKILLed
// midway. The client moves to another member and sends again what the group
// did not yet hold; the survivors deliver every client message exactly once,
// in one order with the members' messages.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { fileURLToPath } from 'node:url'
import { Group } from '../dist/index.js'
import { withMembers } from './helpers/procs.js'
import { uniqueGroup } from './helpers/wait.js'

const script = fileURLToPath(new URL('./helpers/client-member.mjs', import.meta.url))
const allInView = (members, n) =>
  Promise.all(members.map((m) => m.next((x) => x.type === 'view' && x.members.length === n, 15000, `a view of ${n}`)))

test("client processes – the client's member SIGKILLed mid-stream: the client moves on, every survivor delivers each client message once, in one order with the members'", async () => {
  const suspectTimeout = 500
  const group = uniqueGroup('client-kill')
  await withMembers(group, ['m0', 'm1', 'm2'].map((n) => [n, { suspectTimeout }]), async (members) => {
    await allInView(members, 3)
    const client = await Group.connect(group, { name: 'c', suspectTimeout })
    try {
      const moves = []
      client.on('member', (e) => moves.push(e))
      const N = 3000
      for (const m of members) m.command({ cmd: 'send', count: 500, order: 'total', prefix: `${m.name}-` })
      let killed = null
      for (let i = 0; i < N; i++) {
        if (!client.send(`c${i}`, { order: 'total' })) await new Promise((r) => client.once('drain', r))
        if (i % 100 === 99) await new Promise((r) => setTimeout(r, 2))
        if (i === N / 3) {
          // The member the client talks through, now.
          killed = members.find((m) => m.me === client.stats().member)
          assert.ok(killed, 'the client talks through one of the members')
          killed.kill()
        }
      }
      const survivors = members.filter((m) => m !== killed)
      await client.close({ timeoutMs: 30_000 })
      const stats = client.stats()
      assert.is(stats.pendingMessages, 0, 'the group holds every client message')
      assert.is(stats.reconnects, 1)
      assert.is(moves.length, 1, "one 'member' event after connect()")
      assert.is(moves[0].previous, killed.me)
      assert.ok(survivors.some((m) => m.me === moves[0].member))
      console.log(`    the client moved from ${killed.name} to ${moves[0].member.split('#')[0]}; ${stats.resent} messages sent again`)
      await Promise.all(survivors.map((m) => m.next((x) => x.type === 'sent', 30_000, 'its own sends')))
      let reports = []
      const deadline = Date.now() + 30_000
      for (;;) {
        reports = await Promise.all(survivors.map((m) => m.report()))
        const counts = reports.map((r) => r.log.filter((x) => x.startsWith('c:')).length)
        if (counts.every((n) => n >= N)) break
        if (Date.now() > deadline) assert.unreachable(`the survivors delivered ${counts.join(' and ')} of ${N} client messages`)
        await new Promise((r) => setTimeout(r, 50))
      }
      const [a, b] = reports.map((r) => r.log)
      assert.equal(b, a, 'the survivors delivered the same messages in the same order')
      const fromClient = a.filter((x) => x.startsWith('c:'))
      assert.equal(fromClient, Array.from({ length: N }, (_, i) => `c:c${i}`), 'each client message once, in the order sent')
      const dups = reports.reduce((n, r) => n + r.stats.clients.duplicates, 0)
      console.log(`    ${dups} duplicates dropped at the survivors (${reports.map((r) => r.stats.clients.duplicates).join(' + ')})`)
      for (const s of survivors) assert.ok(a.some((x) => x.startsWith(`${s.name}:`)), 'the members sent among them')
    } finally {
      await client.close({ timeoutMs: 1000 }).catch(() => {})
    }
  }, script)
})

test.run()
