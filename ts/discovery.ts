// Finding a unicast group's members without multicast (transport
// 'udp-unicast'): option peers may name them by DNS ('dns:name:port', the
// name's A records, as a Kubernetes headless service gives them; 'srv:name',
// its SRV records), by a file of entries ('file:path') or by a function. They
// are looked at when the member starts and again every resolveInterval; every
// address found is handed to the engine, which sends the group's datagrams to
// it from then on (a member is never forgotten here: one that is gone stops
// being sent to when the group forgets it).
//
// And gossip: a member tells the group the addresses it knows (its peers'
// and its own) when it hears a new one, and every resolveInterval, so a
// newcomer that reaches one live member is soon known to all of them, and
// knows them (membership/messages.ts: 'peers').
//
// Lookups fail quietly (counted, the last error kept): the member goes on
// with what it knows, and looks again at the next interval.
import { Resolver } from 'node:dns/promises'
import { readFile } from 'node:fs/promises'
import { isIPv4 } from 'node:net'

import { parsePeer, type PeerSources } from './options.js'

export interface DiscoveryStats {
  /** Lookups done (DNS names, SRV names, files, the function) and how many failed; the last failure. */
  lookups: number
  failures: number
  lastError: string | null
  /** Addresses handed to the engine, found by lookups and by gossip. */
  found: number
  gossiped: number
}

export class Discovery {
  private readonly resolver = new Resolver({ timeout: 2000, tries: 2 })
  private readonly known = new Set<string>() // 'ip:port', handed to the engine already
  private timer: NodeJS.Timeout | null = null
  private running = false
  readonly stats: DiscoveryStats = { lookups: 0, failures: 0, lastError: null, found: 0, gossiped: 0 }

  constructor(
    private readonly sources: PeerSources | null,
    private readonly options: { dnsServers: string[]; resolveInterval: number },
    /** Hands addresses ('ip:port') to the engine. */
    private readonly add: (addresses: string[]) => void,
    /** Tells the group the addresses we know (gossip). */
    private readonly gossip: () => void,
  ) {
    if (options.dnsServers.length) this.resolver.setServers(options.dnsServers)
  }

  /** Looks now, then every resolveInterval, until stop(). */
  start(): void {
    if (this.timer) return
    const round = () => {
      void this.look().finally(() => this.gossip())
    }
    round()
    this.timer = setInterval(round, this.options.resolveInterval)
    this.timer.unref()
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
  }

  /** Addresses another member told us of. */
  learned(addresses: readonly string[]): void {
    const fresh = this.fresh(addresses)
    this.stats.gossiped += fresh.length
    if (fresh.length) this.add(fresh)
  }

  /** Every address we handed to the engine (what we tell the group, with our own). */
  get addresses(): string[] {
    return [...this.known]
  }

  /** One round of lookups (one at a time: a slow DNS server does not stack them). */
  async look(): Promise<void> {
    const s = this.sources
    if (!s || this.running) return
    this.running = true
    try {
      const found: string[] = []
      for (const { host, port } of s.names) await this.attempt(async () => found.push(...(await this.a(host)).map((ip) => `${ip}:${port}`)))
      for (const name of s.services) await this.attempt(async () => found.push(...(await this.srv(name))))
      for (const path of s.files) await this.attempt(async () => found.push(...(await this.entries(parseLines(await readFile(path, 'utf8')), `a line of ${path}`))))
      if (s.fn) await this.attempt(async () => {
        const got = await s.fn!()
        if (!Array.isArray(got)) throw new TypeError(`the peers function returned ${typeof got}, not an array`)
        found.push(...(await this.entries(got, 'an entry the peers function returned')))
      })
      const fresh = this.fresh(found)
      this.stats.found += fresh.length
      if (fresh.length) this.add(fresh)
    } finally {
      this.running = false
    }
  }

  private fresh(addresses: readonly string[]): string[] {
    const out: string[] = []
    for (const a of addresses) {
      if (this.known.has(a) || this.known.size >= 1024) continue
      const m = /^(.+):(\d{1,5})$/.exec(a)
      if (!m || !isIPv4(m[1]!) || !(Number(m[2]) >= 1 && Number(m[2]) <= 65535)) continue
      this.known.add(a)
      out.push(a)
    }
    return out
  }

  private async attempt(lookup: () => Promise<unknown>): Promise<void> {
    this.stats.lookups++
    try {
      await lookup()
    } catch (err) {
      this.stats.failures++
      this.stats.lastError = (err as Error).message
    }
  }

  private async a(host: string): Promise<string[]> {
    return isIPv4(host) ? [host] : this.resolver.resolve4(host)
  }

  private async srv(name: string): Promise<string[]> {
    const out: string[] = []
    for (const r of await this.resolver.resolveSrv(name)) for (const ip of await this.a(r.name)) out.push(`${ip}:${r.port}`)
    return out
  }

  /** Entries of a file or of the function: each 'ip:port' or 'dns:' (resolved now); 'srv:' too. */
  private async entries(list: unknown[], what: string): Promise<string[]> {
    const out: string[] = []
    for (const entry of list.slice(0, 1024)) {
      const p = parsePeer(entry, what)
      if ('address' in p) out.push(`${p.address}:${p.port}`)
      else if ('dns' in p) out.push(...(await this.a(p.dns.host)).map((ip) => `${ip}:${p.dns.port}`))
      else if ('srv' in p) out.push(...(await this.srv(p.srv)))
      // ('file:' inside a file or the function's answer: not followed)
    }
    return out
  }
}

/** A file's entries: one a line; blank lines and lines starting with '#' skipped. */
function parseLines(text: string): string[] {
  return text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'))
}
