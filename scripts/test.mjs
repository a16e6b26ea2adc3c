// Runs the uvu suites and ends with one line "N passed, N failed", so that a
// run which executes nothing cannot pass unnoticed. uvu's own summary
// ("Total: / Passed: / Skipped:") is parsed from its output.
import { spawn, spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import path from 'node:path'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

// Some suites need Debian packages (clang with libFuzzer for the fuzz targets,
// iptables for the multi-host suite, chromium for the bench report's page:
// without it that test checks the data alone) and root (network namespaces). As root,
// install what is missing first (ci/install-deps.sh, which CI runs too);
// otherwise those suites fail and say what is missing.
const has = (check) => spawnSync('sh', ['-c', check]).status === 0
const missing = ['clang++', 'iptables', 'ip', 'chromium'].filter((c) => !has(`command -v ${c}`))
if (!has('ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a')) missing.push('libFuzzer')
if (missing.length > 0) {
  if (process.getuid?.() === 0) {
    console.log(`test: installing what the suites need (${missing.join(', ')} missing): bash ci/install-deps.sh`)
    spawnSync('bash', [path.join(root, 'ci', 'install-deps.sh')], { stdio: 'inherit' })
  } else {
    console.log(`test: ${missing.join(', ')} missing and not root: the fuzz and multi-host suites will fail (run bash ci/install-deps.sh as root)`)
  }
}
const uvu = path.join(root, 'node_modules', 'uvu', 'bin.js')
// (A pattern picks among the suites; the helpers beside them are never run as one.)
const args = [uvu, 'test', process.argv[2] ?? '.*\\.test\\.m?js$', '--ignore', '^helpers']
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
