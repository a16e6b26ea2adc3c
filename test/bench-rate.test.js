// `troupe bench --rate/--rates`: the options, the pacing schedule (latency
// counted from intended send times, so a stalled sender's delay shows), the
// histogram's accuracy against exact percentiles, and whole runs with their
// JSON, CSV and HTML report.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseBenchArgs, UsageError } from '../dist/bench/options.js'
import { pace, Schedule } from '../dist/bench/paced.js'
import { Histogram } from '../dist/bench/histogram.js'

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url))

test('options – --rate and --rates take 10k, 1.5M, 250000; wrong ones are refused naming the option', () => {
  assert.equal(parseBenchArgs(['--rate', '10k']).rates, [10_000])
  assert.equal(parseBenchArgs(['--rates', '10k,1.5M,250000']).rates, [10_000, 1_500_000, 250_000])
  assert.equal(parseBenchArgs([]).rates, [], 'no rate: the senders saturate')
  const c = parseBenchArgs(['--rates', '1k', '--warmup', '0.5', '--ping-rate', '200', '--csv', '--report', 'x.html'])
  assert.equal([c.warmup, c.pingRate, c.csv, c.report], [0.5, 200, true, 'x.html'])
  const refused = (args, pattern) => {
    try {
      parseBenchArgs(args)
    } catch (err) {
      assert.instance(err, UsageError)
      assert.match(err.message, pattern)
      return
    }
    assert.unreachable(`${args.join(' ')} was accepted`)
  }
  refused(['--rate', 'fast'], /--rate must be messages\/s such as 10k/)
  refused(['--rates', '10k,,1M'], /--rates must be messages\/s .* separated by commas/)
  refused(['--rate', '0'], /--rate must be between 1 and/)
  refused(['--rate', '1k,2k'], /--rate takes one rate/)
  refused(['--rate', '1k', '--rates', '2k'], /--rate or --rates, not both/)
  refused(['--csv'], /--csv is for rate phases/)
  refused(['--report', 'r.html'], /--report is for rate phases/)
  refused(['--rates', '1k', '--json', '--csv'], /--json or --csv, not both/)
  refused(['--warmup=-1'], /--warmup must be at least 0/)
})

test('pacing – messages carry their intended times: a sender stalled 5 ms makes the messages behind it late by the stall, not on time', async () => {
  const MS = 1e6
  let clock = 1000 * MS
  const schedule = new Schedule(clock, 1000, 20) // one a millisecond
  const sent = [] // [i, intended, actually sent at]
  const result = await pace(schedule, {
    now: () => clock,
    send: (i, intended) => {
      sent.push([i, intended, clock])
      clock += 10_000 // 10 µs a send
      if (i === 5) {
        // The window was full: send() waited 5 ms for 'drain'.
        return new Promise((resolve) => {
          clock += 5 * MS
          resolve()
        })
      }
    },
    yield: async () => {
      clock += 20_000
    },
    sleep: async (ns) => {
      clock += ns
    },
  })
  assert.is(result.sent, 20)
  sent.forEach(([i, intended]) => assert.is(intended, schedule.dueAt(i), `message ${i} stamped with its intended time`))
  assert.equal(sent.map(([i]) => i), [...Array(20).keys()], 'every message, in order')
  // The messages due during the stall go out after it: a receiver's latency (arrival - stamp) includes their wait.
  const late = sent.filter(([i]) => i >= 6 && i <= 9).map(([, intended, at]) => at - intended)
  assert.ok(late.every((behind) => behind > 0.5 * MS), `due during the stall, sent late: ${late.map((x) => (x / MS).toFixed(2))} ms`)
  assert.ok(late[0] >= 4 * MS && late[0] > late[1] && late[1] > late[2], 'the first one behind by most of the stall, the next ones less')
  assert.ok(result.maxBehindNs >= 4 * MS && result.maxBehindNs < 6 * MS, `the pacer says how far behind it fell: ${result.maxBehindNs / MS} ms`)
  const onTime = sent.filter(([i]) => i >= 15).map(([, intended, at]) => at - intended)
  assert.ok(onTime.every((behind) => behind < 0.2 * MS), 'caught up: on time again')
})

test('histogram – percentiles within 1% of the exact ones (random samples; the seed is printed on failure)', () => {
  const seed = Number(process.env.SEED ?? Date.now() % 2 ** 31)
  let s = seed || 1
  const random = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32)
  const h = new Histogram()
  const values = []
  for (let i = 0; i < 50_000; i++) {
    const v = Math.floor(1000 * 10 ** (5 * random())) // 1 µs .. 100 ms, log-uniform, in ns
    values.push(v)
    h.record(v)
  }
  values.sort((a, b) => a - b)
  for (const q of [0.5, 0.9, 0.99, 0.999, 0.9999]) {
    const exact = values[Math.ceil(q * values.length) - 1]
    const got = h.quantile(q)
    assert.ok(got >= exact && got <= exact * 1.01, `seed ${seed}: p${q * 100} ${got} vs exact ${exact}`)
  }
  assert.is(h.max, values.at(-1), `seed ${seed}: max exact`)
})

/** Runs a program to its end (killed by execFile at the timeout): its status and output. */
function run(file, args) {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: 120_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err && err.killed) reject(new Error(`${file} ${args.join(' ')} timed out\n${stderr}`))
      else resolve({ code: err ? err.code : 0, stdout, stderr })
    })
  })
}

const bench = (args) => run(process.execPath, [cli, 'bench', ...args])

test('bench --rates – two fixed rates, 3 members: every message delivered, rates achieved, percentiles in order, round trips under load', async () => {
  const rates = [2000, 5000]
  const { code, stdout, stderr } = await bench(['--rates', '2k,5k', '--seconds', '1', '--warmup', '0.2', '--members', '3', '--ping-rate', '200', '--no-view-changes', '--json'])
  assert.is(code, 0, stderr)
  assert.is(stderr, '', '--json: nothing on stderr')
  const r = JSON.parse(stdout)
  assert.ok(r.ok, r.problems.join('; '))
  assert.is(r.rates.length, 2)
  r.rates.forEach((phase, k) => {
    assert.is(phase.rate, rates[k])
    for (const a of phase.achieved) assert.ok(a > 0.8 * rates[k] && a < 1.05 * rates[k], `rate ${rates[k]}: achieved ${a}`)
    assert.is(phase.receivers.length, 2, 'the lone sender does not receive its own (receiveOwn false); the other two do')
    const expected = Math.round(rates[k] * 1.2)
    for (const x of phase.receivers) {
      assert.is(x.delivered, expected, `rate ${rates[k]}: member ${x.index} delivered all, warm-up included`)
      assert.is(x.lost, 0)
      const l = x.latency
      assert.is(l.count, rates[k], 'latency recorded for the measured part only')
      assert.ok(l.p50 > 0 && l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.p999 && l.p999 <= l.p9999 && l.p9999 <= l.max, JSON.stringify(l))
      assert.ok(x.series.reduce((a, b) => a + b, 0) === x.delivered, 'the series counts every delivery')
    }
    assert.ok(phase.rtt.count > 0 && phase.rtt.p50 > 0, 'round trips measured under the load')
  })
})

test('bench --csv --report – one CSV line per rate and receiver; a self-contained HTML page with the data', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'troupe-report-'))
  try {
    const file = path.join(dir, 'r.html')
    const { code, stdout, stderr } = await bench(['--rates', '3k,1k', '--seconds', '0.5', '--warmup', '0.1', '--members', '3', '--no-view-changes', '--csv', '--report', file])
    assert.is(code, 0, stderr)
    const lines = stdout.trim().split('\n')
    assert.match(lines[0], /^rate,achieved,sender_max_behind_us,send_lag_p50_us,send_lag_p99_us,receiver,delivered,lost,/)
    assert.is(lines.length, 1 + 2 * 2, 'a line per rate and receiver')
    assert.equal(lines.slice(1).map((l) => l.split(',')[0]), ['3000', '3000', '1000', '1000'])
    const html = readFileSync(file, 'utf8')
    assert.match(html, /^<!doctype html>/)
    assert.ok(html.includes('uPlot'), 'the chart library is in the page')
    assert.not.match(html, /<script[^>]+src=/, 'no script from elsewhere')
    assert.not.match(html, /<link[^>]+href=/, 'no stylesheet from elsewhere')
    assert.ok(html.includes('3,000 msgs/s per sender: one-way latency distribution') && html.includes('delivered over time'))
    // In a browser, when Debian's chromium is here (.ci/run installs it): the page draws its four charts.
    const chromium = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p))
    if (chromium) {
      const dom = await run(chromium, ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--virtual-time-budget=5000', '--dump-dom', pathToFileURL(file).href])
      assert.is(dom.code, 0, dom.stderr)
      const body = /<body data-charts="(\d+)" data-inked="([\d,]*)"/.exec(dom.stdout)
      assert.ok(body, 'the page ran its script to the end')
      assert.is(Number(body[1]), 4, 'two charts per rate')
      for (const n of body[2].split(',').map(Number)) assert.ok(n > 1000, `each chart drew (${body[2]} pixels inked)`)
    } else {
      console.log('  (no chromium here: the page was checked as data only)')
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test.run()
