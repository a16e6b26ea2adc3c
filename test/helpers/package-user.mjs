// What a user writes, run from a project that installed the packed troupe:
// two members on loopback, one iterating the other's messages with
// `for await`. Copied into that project as check.mjs (ESM) and, with the
// import line swapped for require(), as check.cjs. Prints one JSON line.
import { Group, TroupeError } from 'troupe'

const run = async () => {
  const name = `user-${process.pid}-${Date.now().toString(36)}`
  const a = await Group.join(name, { name: 'a' })
  const b = await Group.join(name, { name: 'b' })
  try {
    const got = []
    const loop = (async () => {
      for await (const msg of b) {
        got.push(msg.order === 'total' ? msg.json() : msg.text())
        if (got.length === 4) break
      }
    })()
    a.send('one')
    a.send(new TextEncoder().encode('two'))
    a.send('three', { order: 'causal' })
    a.send(JSON.stringify({ n: 4 }), { order: 'total' })
    await loop
    let code = null
    try {
      a.send('x', { ordr: 'total' })
    } catch (err) {
      code = err instanceof TypeError ? err.code : `not a TypeError: ${err}`
    }
    return { got, views: b.view.members.length, code, troupeError: typeof TroupeError }
  } finally {
    await a.leave()
    await b.leave()
  }
}

run().then((result) => console.log(JSON.stringify(result)), (err) => {
  console.error(err)
  process.exitCode = 1
})
