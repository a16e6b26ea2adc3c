// A lock service with a member killed while it holds the lock: the holder
// is another process, SIGKILLed mid-critical-section; the group releases its
// lock at the view without it (once, at the same point everywhere) and the
// next waiter gets it. No lease, no timeout of our own. (Three members: a
// group goes on after a crash only with a majority of its view left.)
//
//   node examples/lock-service.mjs
import { fork } from 'node:child_process'
import { joinWith, LockService } from 'troupe/blocks'

const [, , role, group] = process.argv
if (role === 'holder') {
  // The child: take the lock, say so, and hold it until killed.
  const locks = new LockService()
  await joinWith(group, [locks], { name: 'holder', suspectTimeout: 1000 })
  await locks.lock('ledger')
  process.send('holding')
} else {
  const name = `lock-example-${process.pid}`
  const locks = new LockService()
  const g = await joinWith(name, [locks], { name: 'waiter', suspectTimeout: 1000 })
  const witness = await joinWith(name, [new LockService()], { name: 'witness', suspectTimeout: 1000 })
  const child = fork(new URL(import.meta.url).pathname, ['holder', name], { stdio: 'inherit' })
  try {
    await new Promise((resolve, reject) => {
      child.once('message', resolve)
      child.once('exit', () => reject(new Error('the holder exited before it held the lock')))
    })
    console.log(`holder has 'ledger' (${locks.holder('ledger')?.split('#')[0]}); the waiter asks for it`)
    locks.on('released', (e) => console.log(`released: ${e.member.split('#')[0]} (${e.reason})`))
    const asked = locks.lock('ledger', { timeout: 15_000 })
    child.kill('SIGKILL')
    const t0 = performance.now()
    const handle = await asked
    console.log(`waiter holds 'ledger' ${(performance.now() - t0).toFixed(0)} ms after the holder was killed`)
    await handle.unlock()
    console.log('ok')
  } finally {
    child.kill('SIGKILL')
    await Promise.all([g.leave(), witness.leave()])
  }
}
