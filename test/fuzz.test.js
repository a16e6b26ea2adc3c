// The libFuzzer targets (native/test/fuzz_*.cc, docs/FUZZING.md), each built
// and run for a short while by scripts/fuzz.sh: a crash, hang or leak fails
// the test with the path of the input, and so does a run that executed next
// to nothing (a fuzzer that cannot start is no pass).
// TROUPE_FUZZ_SECONDS sets the time per target (default 12).
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const seconds = Number(process.env.TROUPE_FUZZ_SECONDS ?? 12)
// Executions per second far below what each target does on a busy 2-core
// machine (about 400,000 for wire, 9,000 for core, 1,600 for assembly when the machine is idle).
const minimumPerSecond = { wire: 20_000, core: 500, seal: 500, assembly: 200 }
const cxx = process.env.CXX ?? 'clang++'
const hasCompiler = spawnSync('sh', ['-c', `command -v "${cxx}"`]).status === 0

for (const target of ['wire', 'core', 'seal', 'assembly']) {
  test(`fuzz – ${target}: ${seconds} s of libFuzzer with ASan and UBSan find nothing`, () => {
    assert.ok(Number.isInteger(seconds) && seconds > 0, `TROUPE_FUZZ_SECONDS must be a whole number of seconds (got ${process.env.TROUPE_FUZZ_SECONDS})`)
    assert.ok(hasCompiler, `${cxx} (clang with libFuzzer) is missing: run bash ci/install-deps.sh`)
    const r = spawnSync('bash', ['scripts/fuzz.sh', target, String(seconds)], { cwd: root, encoding: 'utf8' })
    const out = `${r.stdout}${r.stderr}`
    assert.is(r.status, 0, `scripts/fuzz.sh ${target} ${seconds} failed:\n${out}`)
    const executed = Number(
      /stat::number_of_executed_units:\s+(\d+)/.exec(out)?.[1] ?? /^#(\d+)\s+DONE/m.exec(out)?.[1] ?? 0,
    )
    const minimum = minimumPerSecond[target] * seconds
    assert.ok(executed > minimum, `libFuzzer executed ${executed} inputs, fewer than ${minimum}:\n${out}`)
  })
}

test.run()
