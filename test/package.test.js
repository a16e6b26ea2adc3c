// The package as a user gets it: `npm pack` (which prebuilds the addon and
// compiles dist/), publint and Are the Types Wrong on the tarball, then the
// tarball installed into an empty project twice, once with --ignore-scripts
// (only the prebuilt addon can work) and once normally, and from each
// project: a two-member group over loopback in ESM and in CommonJS that
// iterates with `for await`, and `npx troupe --help` (and a short `npx troupe
// bench`).
//
// The pack runs in a copy of the source tree (in a temporary directory, with
// this checkout's node_modules linked in): prebuildify builds in build/, which
// the other suites use.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { execFile } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const bin = (name) => path.join(root, 'node_modules', '.bin', name)

/** Runs a command; resolves with its output, or rejects with the command, its exit and everything it printed. */
function run(command, args, cwd, { env = {}, timeout = 300_000 } = {}) {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd, timeout, maxBuffer: 64 << 20, env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${command} ${args.join(' ')} (in ${cwd}) failed: ${err.message}\n${stdout}\n${stderr}`))
      else resolve({ stdout, stderr })
    })
  })
}

// npm as a user runs it: no settings from the checkout's own npm run.
const npmEnv = Object.fromEntries(Object.keys(process.env).filter((k) => k.startsWith('npm_')).map((k) => [k, undefined]))
const npm = (args, cwd) => run('npm', [...args, '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], cwd, { env: { ...npmEnv, NO_COLOR: '1' } })

const work = mkdtempSync(path.join(tmpdir(), 'troupe-package-'))
let tarball = null

test.after(() => rmSync(work, { recursive: true, force: true }))

test('package – npm pack builds the prebuilt addon and dist/, ships no tests, and passes publint and Are the Types Wrong', async () => {
  const src = path.join(work, 'src')
  mkdirSync(src)
  for (const entry of ['package.json', 'package-lock.json', 'binding.gyp', 'tsconfig.json', 'LICENSE', 'README.md', 'native', 'scripts', 'ts', 'blocks']) {
    cpSync(path.join(root, entry), path.join(src, entry), { recursive: true })
  }
  symlinkSync(path.join(root, 'node_modules'), path.join(src, 'node_modules'), 'dir')
  const { stdout } = await npm(['pack', '--json', '--pack-destination', work], src)
  const [packed] = JSON.parse(stdout.slice(stdout.indexOf('[')))
  tarball = path.join(work, packed.filename)
  const files = packed.files.map((f) => f.path)
  for (const wanted of ['LICENSE', 'README.md', 'package.json', 'dist/index.js', 'dist/index.d.ts', 'dist/cjs/index.js', 'dist/cjs/index.d.ts', 'dist/cli.js', 'binding.gyp', 'native/engine.cc']) {
    assert.ok(files.includes(wanted), `the tarball holds ${wanted}`)
  }
  assert.ok(files.some((f) => /^prebuilds\/linux-x64\/[^/]+\.node$/.test(f)), `a prebuilt addon for linux-x64 (files: ${files.filter((f) => f.startsWith('prebuilds')).join(', ') || 'none'})`)
  const unwanted = files.filter((f) => /^(test|bench|ci|\.ci)\/|^native\/test\/|^scripts\/(fuzz|test)|\.map$|^build\/|^tsconfig/.test(f))
  assert.equal(unwanted, [], 'no tests, fuzz corpora, benchmarks, build leftovers or source maps')
  console.log(`    ${packed.filename}: ${files.length} files, ${(packed.size / 1024).toFixed(0)} KiB packed, ${(packed.unpackedSize / 1024).toFixed(0)} KiB unpacked`)

  const lint = await run(bin('publint'), ['run', tarball, '--strict'], work)
  assert.match(lint.stdout + lint.stderr, /All good!/, 'publint finds nothing')
  await run(bin('attw'), [tarball, '--format', 'ascii', '--no-color'], work) // exits 1 on any problem
})

test('package – the README\'s error table lists exactly the codes troupe throws (ERROR_CODES)', async () => {
  const { ERROR_CODES } = await import('../dist/index.js')
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8')
  const listed = [...readme.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1])
  assert.equal(listed.sort(), Object.keys(ERROR_CODES).sort())
})

const userScript = readFileSync(new URL('./helpers/package-user.mjs', import.meta.url), 'utf8')
const esmImport = "import { Group, TroupeError } from 'troupe'"
assert.ok(userScript.includes(esmImport))

for (const { how, flags } of [
  { how: 'with --ignore-scripts (the prebuilt addon alone)', flags: ['--ignore-scripts'] },
  { how: 'with its install script', flags: [] },
]) {
  test(`package – installed into an empty project ${how}: a group runs from ESM and CommonJS, for await iterates, npx troupe answers`, async () => {
    assert.ok(tarball, 'the pack test made a tarball')
    const app = mkdtempSync(path.join(work, 'app-'))
    writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }, null, 2))
    const started = Date.now()
    const install = await npm(['install', '--foreground-scripts', ...flags, tarball], app)
    const seconds = (Date.now() - started) / 1000
    const addon = readdirSync(path.join(app, 'node_modules', 'troupe')).filter((f) => f === 'build')
    assert.equal(addon, [], 'nothing was compiled at install: the prebuilt addon is used')
    if (flags.length === 0) assert.match(install.stdout + install.stderr, /using the prebuilt addon prebuilds\/linux-x64\//, 'the install script chose the prebuilt addon')

    writeFileSync(path.join(app, 'check.mjs'), userScript)
    writeFileSync(path.join(app, 'check.cjs'), userScript.replace(esmImport, "const { Group, TroupeError } = require('troupe')"))
    for (const script of ['check.mjs', 'check.cjs']) {
      const { stdout } = await run(process.execPath, [script], app, { timeout: 60_000 })
      const result = JSON.parse(stdout.trim().split('\n').pop())
      assert.equal(result, { got: ['one', 'two', 'three', { n: 4 }], views: 2, code: 'ERR_TROUPE_UNKNOWN_OPTION', troupeError: 'function' }, script)
    }
    const help = await run('npx', ['--no-install', 'troupe', '--help'], app, { env: npmEnv, timeout: 60_000 })
    assert.match(help.stdout, /Usage: troupe <command>/)
    if (flags.length > 0) {
      const bench = await run('npx', ['--no-install', 'troupe', 'bench', '--members', '2', '--seconds', '0.5', '--pings', '100', '--no-view-changes', '--consume', 'iterator'], app, { env: npmEnv, timeout: 120_000 })
      assert.match(bench.stdout, /OK: nothing lost, duplicated or misordered/, 'npx troupe bench runs')
    }
    const types = readFileSync(path.join(app, 'node_modules', 'troupe', 'dist', 'cjs', 'index.d.ts'), 'utf8')
    assert.match(types, /Group/, 'CommonJS types are there')
    // troupe/blocks, both ways, from the installed package.
    const blocksEsm = await run(process.execPath, ['--input-type=module', '-e', "import * as b from 'troupe/blocks'; console.log(Object.keys(b).sort().join(','))"], app, { timeout: 60_000 })
    const blocksCjs = await run(process.execPath, ['-e', "console.log(Object.keys(require('troupe/blocks')).sort().join(','))"], app, { timeout: 60_000 })
    for (const out of [blocksEsm, blocksCjs]) assert.is(out.stdout.trim(), 'Block,Counter,LockHandle,LockService,ReplicatedMap,joinWith')
    console.log(`    install ${how}: ${seconds.toFixed(1)} s`)
  })
}

test.run()
