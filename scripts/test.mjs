// Runs the uvu suites and ends with one line "N passed, N failed", so that a
// run which executes nothing cannot pass unnoticed. uvu's own summary
// ("Total: / Passed: / Skipped:") is parsed from its output.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import path from 'node:path'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const uvu = path.join(root, 'node_modules', 'uvu', 'bin.js')
const args = [uvu, 'test', process.argv[2] ?? '.*\\.test\\.m?js$']
const env = { ...process.env, NO_COLOR: '1' }
delete env.FORCE_COLOR
const child = spawn(process.execPath, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'inherit'] })
let out = ''
child.stdout.on('data', (chunk) => {
  out += chunk
  process.stdout.write(chunk)
})
child.on('close', (code) => {
  const total = Number(/Total:\s+(\d+)/.exec(out)?.[1] ?? 0)
  const passed = Number(/Passed:\s+(\d+)/.exec(out)?.[1] ?? 0)
  const skipped = Number(/Skipped:\s+(\d+)/.exec(out)?.[1] ?? 0)
  const failed = Math.max(total - passed - skipped, code === 0 ? 0 : 1)
  console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`)
  process.exit(code === 0 && passed > 0 && failed === 0 ? 0 : 1)
})
