// `troupe bench --report FILE.html`: one self-contained page of the rate
// phases (uPlot and its CSS inlined, the data in the page: it opens with no
// network). Per rate: the latency percentile distribution of every receiver
// (x: the percentile on a "nines" scale, y: µs, log) and the messages each
// receiver delivered over time; and the table of percentiles.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { Histogram } from './histogram.js'
import type { RateResult } from './rates.js'
import type { BenchResult } from './report.js'

/** Where the distribution is drawn: percentiles from 0 to 99.999. */
const QUANTILES = [0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999, 0.99999]

interface Chart {
  title: string
  xLabel: string
  yLabel: string
  logY: boolean
  nines: boolean
  series: string[]
  data: number[][]
}

export function htmlReport(result: BenchResult): string {
  const require = createRequire(import.meta.url)
  const js = readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8')
  const css = readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8')
  const charts = result.rates.flatMap((r) => [distribution(r), throughput(r)])
  const c = result.config
  const title = `troupe bench ${result.version}: ${c.members} members, ${c.senders} sending, ${c.size} B, ${c.order}`
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title>
<style>${css}
body { font: 14px system-ui, sans-serif; margin: 2em; color: #222 }
table { border-collapse: collapse; margin: 1em 0 } td, th { padding: 2px 10px; text-align: right; border-bottom: 1px solid #ddd }
th:first-child, td:first-child { text-align: left } .chart { margin: 1.5em 0 }
</style></head><body>
<h1>${escape(title)}</h1>
<p>${escape(result.date)} · ${escape(result.host.platform)}, ${result.host.cpus} CPUs, Node ${escape(result.host.node)} · group ${escape(c.group)} ·
warm-up ${c.warmup} s, measured ${c.seconds} s per rate · one-way latency from each message's intended send time to the receiver's handler
(senders paced by schedule: a late sender's delay counts) · ${result.ok ? 'nothing lost, duplicated or misordered' : `<b>problems:</b> ${escape(result.problems.join('; '))}`}</p>
${percentileTable(result.rates)}
<div id="charts"></div>
<script>${js}</script>
<script>
const charts = ${JSON.stringify(charts).replace(/</g, '\\u003c')};
const colors = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf'];
for (const c of charts) {
  const div = document.createElement('div');
  div.className = 'chart';
  document.getElementById('charts').appendChild(div);
  const nines = (v) => (100 - 100 / Math.pow(10, v)).toPrecision(6).replace(/\\.?0+$/, '') + '%';
  new uPlot({
    title: c.title, width: 900, height: 360,
    scales: { x: { time: false }, y: { distr: c.logY ? 3 : 1 } },
    axes: [{ label: c.xLabel, values: c.nines ? (u, vals) => vals.map(nines) : undefined, incrs: c.nines ? [1] : undefined }, { label: c.yLabel, size: 70 }],
    series: [{ label: c.xLabel, value: c.nines ? (u, v) => (v == null ? '' : nines(v)) : undefined },
      ...c.series.map((label, i) => ({ label, stroke: colors[i % colors.length], width: 2, points: { show: c.nines } }))],
  }, c.data, div);
}
// Once drawn, say so on <body>: how many charts, and how many pixels each one's
// plot inked (a test renders the page headless and reads these).
requestAnimationFrame(() => setTimeout(() => {
  const inked = [...document.querySelectorAll('.chart canvas')].map((canvas) => {
    const d = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) n++;
    return n;
  });
  document.body.dataset.charts = String(inked.length);
  document.body.dataset.inked = inked.join(',');
}));
</script>
</body></html>
`
}

/** Latency against percentile, one line per receiver. */
function distribution(r: RateResult): Chart {
  const x = QUANTILES.map((q) => (q === 0 ? 0 : -Math.log10(1 - q)))
  const lines = r.receivers.map((rx) => {
    const h = Histogram.from(rx.histogram)
    return QUANTILES.map((q) => Math.max(0.1, (q === 0 ? h.min : h.quantile(q)) / 1000))
  })
  return {
    title: `${r.rate.toLocaleString('en-US')} msgs/s per sender: one-way latency distribution`,
    xLabel: 'percentile',
    yLabel: 'µs',
    logY: true,
    nines: true,
    series: r.receivers.map((rx) => `receiver ${rx.index}`),
    data: [x, ...lines],
  }
}

/** Messages/s each receiver delivered, per slice of the phase. */
function throughput(r: RateResult): Chart {
  const slices = Math.max(0, ...r.receivers.map((rx) => rx.series.length))
  const x = Array.from({ length: slices }, (_, i) => (i * r.seriesMs) / 1000)
  const perSecond = 1000 / r.seriesMs
  return {
    title: `${r.rate.toLocaleString('en-US')} msgs/s per sender: delivered over time`,
    xLabel: 's from the phase start',
    yLabel: 'msgs/s',
    logY: false,
    nines: false,
    series: r.receivers.map((rx) => `receiver ${rx.index}`),
    data: [x, ...r.receivers.map((rx) => x.map((_, i) => (rx.series[i] ?? 0) * perSecond))],
  }
}

function percentileTable(rates: RateResult[]): string {
  const rows = rates.flatMap((r) =>
    r.receivers.map((rx) => {
      const l = rx.latency
      return `<tr><td>${r.rate.toLocaleString('en-US')}</td><td>${rx.index}</td><td>${rx.delivered.toLocaleString('en-US')}</td><td>${rx.lost}</td>` +
        [l.p50, l.p90, l.p99, l.p999, l.p9999, l.max].map((v) => `<td>${v}</td>`).join('') +
        `<td>${r.rtt.count ? r.rtt.p50 : '–'}</td><td>${r.rtt.count ? r.rtt.p99 : '–'}</td></tr>`
    }),
  )
  return `<table><tr><th>rate/s</th><th>receiver</th><th>delivered</th><th>lost</th><th>p50 µs</th><th>p90</th><th>p99</th><th>p99.9</th><th>p99.99</th><th>max</th><th>rtt p50</th><th>rtt p99</th></tr>
${rows.join('\n')}</table>`
}

function escape(text: string): string {
  return text.replace(/[&<>"]/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[ch]!)
}
