// `troupe sim`: runs the deterministic simulator over seeds and checks the
// invariants after each run. A failing seed is printed with the command that
// replays it.
import { runScale, runSeed } from './scenario.js'

export const simHelp = `Usage: troupe sim [--seed N | --seeds FROM..TO] [--verbose]

Runs simulated groups (the real membership and reliability code over a
simulated lossy network with crashes and partitions) and checks the
invariants of virtual synchrony after every run.

  --seed N          one run, with its story printed
  --seeds A..B      runs seeds A to B (default 1..200)
  --verbose         print every run's summary
  --members N       N members in every run (default: 3 to 5, drawn; each
                    sends as much less often beyond 5)
  --datagram B      the largest datagram, bytes (default 1024)
  --no-faults       no crashes, partitions, stalls or loss (how a large
                    group forms: --members 256 --datagram 1472 --no-faults)
  --active MS       simulated time with traffic (and faults), ms (default 3000)
  --scale 4,8,16    instead: view-change times against group size (simulated
                    ms: forming, a crash, a leave), one run a size`

export function runSim(args: string[]): number {
  let from = 1, to = 200
  let verbose = false
  const options: { members?: number; datagramSize?: number; faults?: boolean; activeMs?: number } = {}
  let scale: number[] | null = null
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!
    if (a === '--seed') {
      from = to = parseSeed(args[++i])
      verbose = true
    } else if (a === '--seeds') {
      const m = /^(\d+)\.\.(\d+)$/.exec(args[++i] ?? '')
      if (!m) throw new RangeError('--seeds wants FROM..TO, e.g. 1..1000')
      from = Number(m[1])
      to = Number(m[2])
    } else if (a === '--verbose') {
      verbose = true
    } else if (a === '--members') {
      options.members = count(args[++i], a, 2, 256)
    } else if (a === '--datagram') {
      options.datagramSize = count(args[++i], a, 512, 65507)
    } else if (a === '--scale') {
      scale = (args[++i] ?? '').split(',').map((x) => count(x, a, 3, 256))
    } else if (a === '--no-faults') {
      options.faults = false
    } else if (a === '--active') {
      options.activeMs = count(args[++i], a, 0, 600_000)
    } else {
      throw new RangeError(`unknown option '${a}'`)
    }
  }
  if (scale) return runScaleTable(scale, options.datagramSize)
  // `troupe sim | head` closes the pipe early: stop quietly.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0)
    throw err
  })
  let failed = 0
  const started = Date.now()
  for (let seed = from; seed <= to; seed++) {
    const r = runSeed(seed, options)
    if (r.errors.length || verbose) {
      process.stdout.write(`seed ${seed}: ${r.errors.length ? 'FAIL' : 'ok'} (${r.incarnations} incarnations, ${r.views} views, ${r.delivered} deliveries)\n  ${r.summary}\n`)
    }
    if (r.errors.length) {
      failed++
      for (const e of r.errors) process.stdout.write(`  ✗ ${e}\n`)
      process.stdout.write(`  replay: npx troupe sim --seed ${seed}\n`)
    }
  }
  const runs = to - from + 1
  process.stdout.write(`${runs - failed} of ${runs} seeds hold every invariant (${((Date.now() - started) / 1000).toFixed(1)} s)\n`)
  return failed ? 1 : 0
}

function runScaleTable(sizes: number[], datagramSize?: number): number {
  process.stdout.write('members  form (ms)  crash → view (ms)  leave → view (ms)  STATUS read/member/s  invariants  real time\n')
  let failed = 0
  for (const n of sizes) {
    const r = runScale(n, datagramSize)
    if (r.errors.length) failed++
    process.stdout.write(`${String(n).padStart(7)}  ${r.formMs.toFixed(0).padStart(9)}  ${r.crashMs.toFixed(0).padStart(17)}  ${r.leaveMs.toFixed(0).padStart(17)}  ${r.statusPerMemberS.toFixed(0).padStart(20)}  ${(r.errors.length ? 'FAIL' : 'hold').padStart(10)}  ${(r.wallMs / 1000).toFixed(1)} s\n`)
    for (const e of r.errors.slice(0, 5)) process.stdout.write(`  ✗ ${e}\n`)
  }
  process.stdout.write('(simulated ms: suspectTimeout 300, retries every 20, STATUS every 10, growing past 16 members (at most suspectTimeout / 8); the simulated network has no bandwidth limit)\n')
  return failed ? 1 : 0
}

function count(s: string | undefined, what: string, min: number, max: number): number {
  const n = Number(s)
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new RangeError(`${what} wants an integer from ${min} to ${max}, got '${s}'`)
  return n
}

function parseSeed(s: string | undefined): number {
  const n = Number(s)
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`--seed wants a non-negative integer, got '${s}'`)
  return n
}
