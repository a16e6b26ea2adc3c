// `troupe bench --app` end to end, small: requests ('first', 'all') and the
// three stream phases (no subject, every subject, one subject of 100) run,
// every receiver is handed exactly what it subscribed to, and the JSON has
// the figures the README quotes. (Speed is measured, never asserted.)
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url))

test('bench --app – requests and subject phases run; receivers get exactly their share', async () => {
  const { code, stdout, stderr } = await new Promise((resolve) => {
    execFile(process.execPath, [cli, 'bench', '--app', '--members', '3', '--seconds', '0.4', '--json'], { timeout: 120_000 }, (err, stdout, stderr) => resolve({ code: err ? err.code : 0, stdout, stderr }))
  })
  assert.is(code, 0, stderr)
  const r = JSON.parse(stdout)
  assert.equal(r.requests.map((q) => `${q.responses} ${q.replies}`), ['first direct', 'all direct', 'first multicast', 'all multicast'])
  for (const q of r.requests) assert.ok(q.sequential > 0 && q.p50 > 0 && q.p99 >= q.p50 && q.perSecond > 0, JSON.stringify(q))
  assert.equal(r.streams.map((s) => s.mode), ['plain', 'all', 'one'])
  for (const s of r.streams) {
    assert.is(s.handed.length, 2)
    const want = s.mode === 'one' ? Math.floor(s.sent / 100) + (s.sent % 100 > 7 ? 1 : 0) : s.sent
    assert.equal(s.handed, [want, want], `${s.mode}: each receiver handed what it subscribed to`)
  }
})

test.run()
