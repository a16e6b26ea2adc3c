// Every example in examples/ runs as a user would run it (node
// examples/<name>.mjs, importing 'troupe' by name) and ends with 'ok'. Each
// runs in a process group of its own, killed in every path (the lock
// example starts a child of its own).
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { spawn } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const dir = fileURLToPath(new URL('../examples/', import.meta.url))
const examples = readdirSync(dir).filter((f) => f.endsWith('.mjs')).sort()

function run(file, timeoutMs = 60_000) {
  const { NO_COLOR, ...env } = process.env
  const child = spawn(process.execPath, [file], { cwd: dir, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (d) => (out += d))
  child.stderr.on('data', (d) => (out += d))
  const done = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
  let timer
  const deadline = new Promise((resolve) => (timer = setTimeout(() => resolve({ code: null, signal: 'timeout' }), timeoutMs)))
  return Promise.race([done, deadline]).then((end) => ({ ...end, out })).finally(() => {
    clearTimeout(timer)
    try {
      process.kill(-child.pid, 'SIGKILL') // the example and anything it started
    } catch {}
  })
}

test('examples – there are the five the README names', () => {
  assert.equal(examples, ['client.mjs', 'kv-service.mjs', 'lock-service.mjs', 'market-data.mjs', 'requests.mjs'])
})

for (const file of examples) {
  test(`examples – ${file} runs and ends with 'ok'`, async () => {
    const r = await run(file)
    assert.is(r.code, 0, `${file} exited ${r.code ?? r.signal}:\n${r.out}`)
    assert.is(r.out.trim().split('\n').at(-1), 'ok', r.out)
  })
}

test.run()
