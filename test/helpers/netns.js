// Several hosts on one machine, for the multi-host tests: network namespaces
// joined by a bridge that lives in a namespace of its own (MACHINE.md), with
// faults made by the kernel (netfilter loss, a link taken down, the hosts
// split between two bridges).
//
//                 hub namespace: br0 (multicast snooping off); br1, empty
//            ┌──────────┬─────┴────┬──────────┐       until a split moves ports
//           v1         v2         v3         v4       onto it (prepareSplit);
//            │          │          │          │       mend() moves them back
//          eth0       eth0       eth0       eth0      10.99.X.i/24, lo up,
//           h1         h2         h3         h4       route 224.0.0.0/4 dev eth0
//
// Nothing is created in the root namespace (the veth pairs are made straight
// into the namespaces), so deleting the namespaces removes everything. That
// happens in every path: destroy() in the finally of withTestbed, and, should
// the test process end another way, its 'exit' hook (and SIGINT/SIGTERM).
// Member processes started here are killed by pid in the same paths.
import { execFileSync, spawn } from 'node:child_process'
import { Member } from './procs.js'

const live = new Set() // testbeds not yet destroyed
let hooked = false
let sequence = 0

function run(command, args) {
  try {
    return execFileSync(command, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', timeout: 10000 })
  } catch (err) {
    throw new Error(`\`${command} ${args.join(' ')}\` failed: ${err.stderr?.trim() || err.message}`)
  }
}

function hookExit() {
  if (hooked) return
  hooked = true
  process.on('exit', () => {
    for (const t of live) t.destroyNow()
  })
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => {
      for (const t of live) t.destroyNow()
      process.exit(signal === 'SIGINT' ? 130 : 143)
    })
  }
}

/** Deletes the namespaces of earlier runs of this suite whose process is gone (a run that was SIGKILLed). */
function sweepStale() {
  let list = ''
  try {
    list = run('ip', ['netns', 'list'])
  } catch {
    return
  }
  for (const line of list.split('\n')) {
    const name = line.split(' ')[0]
    const m = /^tr(\d+)-\d+(?:h\d+|hub)$/.exec(name)
    if (!m || Number(m[1]) === process.pid) continue
    try {
      process.kill(Number(m[1]), 0)
      continue // its run is still going
    } catch (err) {
      if (err.code !== 'ESRCH') continue
    }
    try {
      run('ip', ['netns', 'del', name])
    } catch {}
  }
}

/**
 * A member process on one host: `ip netns exec NS node script ...`, which
 * execs node in place (the pid is node's) and keeps the IPC channel. It waits,
 * commands and is killed like procs.js's Member, whose methods it shares.
 */
export class HostMember {
  constructor(host, group, name, options, script) {
    this.name = name
    this.host = host
    const { NO_COLOR, ...env } = process.env
    this.child = spawn('ip', ['netns', 'exec', host.ns, process.execPath, script, group, name, JSON.stringify(options)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env,
    })
    this.messages = []
    this.waiters = []
    this.exited = false
    this.child.on('message', (m) => {
      if (m.type === 'log') return // (the test's log reader takes those)
      this.messages.push(m)
      if (m.type === 'joined') this.me = m.me
      this.waiters = this.waiters.filter((w) => !w(m))
    })
    const gone = (code, signal) => {
      this.exited = true
      const m = { type: 'exit', code, signal }
      this.waiters = this.waiters.filter((w) => !w(m))
    }
    this.child.on('exit', gone)
    this.child.on('error', (err) => gone(err.code, null)) // not started at all
  }
}
for (const method of ['next', 'command', 'report', 'signal', 'kill']) HostMember.prototype[method] = Member.prototype[method]

export class Testbed {
  /** Builds `count` hosts on a bridge. Throws, with the failing command, where namespaces are not permitted. */
  constructor(count = 4) {
    hookExit()
    sweepStale()
    const tag = `tr${process.pid}-${sequence++}`
    // The subnet differs between concurrent runs, although each run's hosts only see their own bridge.
    const subnet = 1 + (process.pid % 250)
    this.hub = `${tag}hub`
    this.hosts = Array.from({ length: count }, (_, n) => ({
      name: `h${n + 1}`,
      ns: `${tag}h${n + 1}`,
      ip: `10.99.${subnet}.${n + 1}`,
      link: `v${n + 1}`, // its end of the veth pair, in the hub
    }))
    this.members = []
    this.made = []
    this.lossOn = false
    this.apart = [] // the hosts a split moved onto br1
    this.helpers = new Set() // processes of ours other than members (a split made ready)
    live.add(this)
    try {
      this.build()
    } catch (err) {
      this.destroyNow()
      throw err
    }
  }

  build() {
    try {
      run('ip', ['netns', 'add', this.hub])
    } catch (err) {
      throw new Error(`the multi-host suite needs root (network namespaces: CAP_SYS_ADMIN, CAP_NET_ADMIN); ${err.message}`)
    }
    this.made.push(this.hub)
    const hub = (...args) => run('ip', ['-n', this.hub, ...args])
    // Snooping off: the bridge floods multicast to every port, whoever has joined.
    hub('link', 'add', 'br0', 'type', 'bridge', 'mcast_snooping', '0')
    hub('link', 'set', 'br0', 'up')
    // The other side of a split (prepareSplit): the same, with no port until then.
    hub('link', 'add', 'br1', 'type', 'bridge', 'mcast_snooping', '0')
    hub('link', 'set', 'br1', 'up')
    for (const h of this.hosts) {
      run('ip', ['netns', 'add', h.ns])
      this.made.push(h.ns)
      hub('link', 'add', h.link, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h.ns)
      hub('link', 'set', h.link, 'master', 'br0', 'up')
      const at = (...args) => run('ip', ['-n', h.ns, ...args])
      at('link', 'set', 'lo', 'up')
      at('addr', 'add', `${h.ip}/24`, 'dev', 'eth0')
      at('link', 'set', 'eth0', 'up')
      at('route', 'add', '224.0.0.0/4', 'dev', 'eth0')
    }
  }

  /** Starts a member process on `host`; it is killed when the testbed is destroyed. */
  start(host, group, name, options, script) {
    const m = new HostMember(host, group, name, options, script)
    this.members.push(m)
    return m
  }

  /** Random loss of received UDP datagrams on every host (netfilter, in each namespace). */
  loss(probability) {
    for (const h of this.hosts) {
      run('ip', ['netns', 'exec', h.ns, 'iptables', '-A', 'INPUT', '-p', 'udp', '-m', 'statistic', '--mode', 'random', '--probability', String(probability), '-j', 'DROP'])
    }
    this.lossOn = true
  }

  /**
   * Random loss of the membership protocol's datagrams (CONTROL: the header's
   * magic "TR", version 1, type 5) that `host` receives; the rest gets through.
   */
  controlLoss(host, probability) {
    run('ip', ['netns', 'exec', host.ns, 'iptables', '-A', 'INPUT', '-p', 'udp', '-m', 'u32', '--u32', '0>>22&0x3C@8=0x54520105',
      '-m', 'statistic', '--mode', 'random', '--probability', String(probability), '-j', 'DROP'])
    this.lossOn = true
  }

  /** CONTROL datagrams the controlLoss rules dropped, on all hosts together. */
  controlDropped() {
    return this.matched('INPUT', 'u32')
  }

  /** Datagrams the loss rules dropped, on all hosts together. */
  dropped() {
    return this.matched('INPUT', 'statistic') - this.controlDropped()
  }

  /** Packets that the `chain` rules whose listing contains `marker` matched, on all hosts together. */
  matched(chain, marker) {
    let total = 0
    for (const h of this.hosts) {
      const table = run('ip', ['netns', 'exec', h.ns, 'iptables', '-L', chain, '-v', '-x', '-n'])
      for (const line of table.split('\n')) if (line.includes(marker)) total += Number(line.trim().split(/\s+/)[0])
    }
    return total
  }

  clearLoss() {
    for (const h of this.hosts) run('ip', ['netns', 'exec', h.ns, 'iptables', '-F', 'INPUT'])
    this.lossOn = false
  }

  /** No multicast leaves any host from now on (netfilter OUTPUT): a transport that still works does not use it. */
  blockMulticast() {
    for (const h of this.hosts) run('ip', ['netns', 'exec', h.ns, 'iptables', '-A', 'OUTPUT', '-d', '224.0.0.0/4', '-j', 'DROP'])
  }

  /** `host` sends no multicast ('out'), or receives none ('in'), from now on (netfilter); the others are untouched. */
  blockMulticastAt(host, direction) {
    const [chain, flag] = direction === 'out' ? ['OUTPUT', '-d'] : ['INPUT', '-d']
    run('ip', ['netns', 'exec', host.ns, 'iptables', '-A', chain, flag, '224.0.0.0/4', '-j', 'DROP'])
  }

  /** Multicast datagrams blockMulticast() stopped, on all hosts together. */
  multicastBlocked() {
    return this.matched('OUTPUT', '224.0.0.0/4')
  }

  /** Cuts `host` off: its veth end in the hub goes down (its eth0 loses carrier; its routes stay, marked linkdown). */
  cut(host) {
    run('ip', ['-n', this.hub, 'link', 'set', host.link, 'down'])
  }

  /**
   * Reconnects `host`, and makes sure its multicast route is there (it goes if
   * eth0 itself was ever down). Its first unicast datagrams may then wait up
   * to a second for ARP: the kernel dropped its neighbours at carrier loss,
   * and the entries its sends made during the cut (INCOMPLETE) retry once a
   * second (measured: plain UDP from a healed host arrives ~0.85 s later).
   */
  heal(host) {
    run('ip', ['-n', this.hub, 'link', 'set', host.link, 'up'])
    run('ip', ['-n', host.ns, 'route', 'replace', '224.0.0.0/4', 'dev', 'eth0'])
  }

  /**
   * Makes ready to split the hosts in two: those of `side` are moved onto
   * br1, the others stay on br0; nothing crosses. No link goes down (no
   * carrier loss, routes and neighbours stay), so each side just stops
   * hearing the other. `ip -batch` is started now and waits for its commands,
   * so that the returned split() moves the ports about a millisecond after it
   * is called (no process start in between); it resolves once they moved.
   */
  prepareSplit(side) {
    const child = spawn('ip', ['-n', this.hub, '-batch', '-'], { stdio: ['pipe', 'ignore', 'pipe'] })
    this.helpers.add(child)
    let stderr = ''
    child.stderr.on('data', (chunk) => (stderr += chunk))
    const moved = new Promise((resolve, reject) => {
      const fail = (why) => reject(new Error(`\`ip -n ${this.hub} -batch\` to split off ${side.map((h) => h.name)} failed: ${why}`))
      child.on('error', (err) => fail(err.message))
      child.on('exit', (code, signal) => {
        this.helpers.delete(child)
        if (code === 0) resolve()
        else fail(stderr.trim() || `exit ${code ?? signal}`)
      })
    })
    moved.catch(() => {}) // (killed unused, when the testbed goes first)
    return () => {
      child.stdin.end(side.map((h) => `link set dev ${h.link} master br1\n`).join(''))
      this.apart = [...side]
      return moved
    }
  }

  /** Undoes the split: every host back on br0. */
  mend() {
    for (const h of this.apart) run('ip', ['-n', this.hub, 'link', 'set', 'dev', h.link, 'master', 'br0'])
    this.apart = []
  }

  /** Kills every member and waits (briefly) for them to be gone, then deletes the namespaces. */
  async destroy() {
    for (const m of this.members) m.kill()
    const deadline = Date.now() + 3000
    while (this.members.some((m) => !m.exited) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
    this.destroyNow()
  }

  /** The synchronous path (process 'exit'): SIGKILL by pid, delete every namespace made. */
  destroyNow() {
    for (const m of this.members) m.kill()
    for (const child of this.helpers) {
      try {
        process.kill(child.pid, 'SIGKILL')
      } catch {}
    }
    for (const ns of this.made.splice(0).reverse()) {
      try {
        run('ip', ['netns', 'del', ns])
      } catch (err) {
        console.error(`testbed cleanup: ${err.message}`)
      }
    }
    live.delete(this)
  }
}

/** Runs `body` on a fresh testbed and removes it (members and namespaces) however `body` ends. */
export async function withTestbed(count, body) {
  const testbed = new Testbed(count)
  try {
    return await body(testbed)
  } finally {
    await testbed.destroy()
  }
}
