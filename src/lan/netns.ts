/**
 * A LAN of hosts on this machine, made of Linux network namespaces with
 * iproute2 (`ip netns`, veth pairs, bridges). Host `i` is namespace
 * `ppai-<pid>-h<i>` with two links:
 * - `lan0`, a veth whose other end is a port of the LAN bridge
 *   `ppai<pid>lan`: its private address 10.X.Y.(i+10)/24 is the only way to
 *   the other hosts; a multicast route on it carries mDNS;
 * - `mgmt0`, a point-to-point veth to this (the driver's) namespace, 10.X.Z.*
 *   /30, never bridged: the owner's own way to its node's HTTP API, which a
 *   fault on the LAN does not cut.
 * Faults: a host's LAN port set down (and up); a group's ports moved to a
 * second bridge `ppai<pid>cut` (the group and the rest each still a LAN of
 * their own) and back. Every name carries the driver's pid, so a clean-up
 * can tell leftovers of a driver that is gone from those of one still
 * running, and two runs never touch each other's links.
 */
import { execFileSync } from 'node:child_process'

/** Prefix of everything a LAN creates (namespaces `ppai-…`, links `ppai…`). */
export const LAN_PREFIX = 'ppai'

const MAX_HOSTS = 60

/** Runs `ip` (or `bridge`) and returns its stdout; throws with its stderr. */
function run (cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

function ip (...args: string[]): string {
  return run('ip', args)
}

/** Why namespaces cannot be made here, or undefined when they can (root and iproute2's `ip`). */
export function lanUnavailable (): string | undefined {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`
  if (process.getuid?.() !== 0) return 'network namespaces need root (run as root, e.g. with sudo)'
  try {
    ip('-V')
  } catch {
    return 'the `ip` command of iproute2 was not found (install iproute2)'
  }
  try {
    ip('netns', 'list')
  } catch (err) {
    return `\`ip netns\` does not work here: ${firstLine(err)}`
  }
  return undefined
}

function firstLine (err: unknown): string {
  const e = err as { stderr?: string, message?: string }
  return String(e.stderr ?? e.message ?? err).trim().split('\n')[0]
}

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** What a LAN's names carry: the pid of the driver that made it. */
function ownerPid (name: string): number | undefined {
  const m = /^ppai-?(\d+)/.exec(name)
  return m == null ? undefined : Number(m[1])
}

/** Namespaces and links (veth ends, bridges) in this namespace whose names start with the prefix. */
export function lanLeftovers (): { namespaces: string[], links: string[] } {
  const namespaces = ip('netns', 'list').split('\n').map(l => l.trim().split(' ')[0]).filter(n => n.startsWith(`${LAN_PREFIX}-`))
  const links = ip('-o', 'link', 'show').split('\n').map(l => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1] ?? '').filter(n => n.startsWith(LAN_PREFIX))
  return { namespaces, links }
}

/**
 * Removes what LANs of drivers that are no longer running left behind (a
 * driver killed with SIGKILL cannot clean up): their node processes, their
 * namespaces, veths and bridges. `all` removes those of running drivers too.
 * Returns the names removed.
 */
export function removeLeftovers (opts: { all?: boolean, only?: number } = {}): string[] {
  const removed: string[] = []
  const mine = (name: string): boolean => {
    const pid = ownerPid(name)
    if (opts.only != null) return pid === opts.only
    return opts.all === true || pid == null || !alive(pid)
  }
  const { namespaces, links } = lanLeftovers()
  for (const ns of namespaces.filter(mine)) {
    // Processes left in it (nodes of a driver that died) go first: a namespace with processes in it lives on after `ip netns del`.
    try {
      for (const pid of ip('netns', 'pids', ns).split('\n').map(Number).filter(p => p > 0)) {
        try { process.kill(pid, 'SIGKILL') } catch { /* gone already */ }
      }
    } catch { /* no such namespace any more */ }
    try {
      ip('netns', 'del', ns)
      removed.push(ns)
    } catch { /* removed meanwhile */ }
  }
  // Deleting a namespace deletes the veth ends in it, and with them their peers here; what is left are bridges and stray ends.
  for (const link of links.filter(mine)) {
    try {
      ip('link', 'del', link)
      removed.push(link)
    } catch { /* gone with its peer */ }
  }
  return removed
}

export interface LanHost {
  index: number
  namespace: string
  /** Address on the LAN (libp2p listens here). */
  lanAddress: string
  /** Address of the management link (the HTTP API listens here). */
  mgmtAddress: string
  /** The LAN port of the host on the bridge (in the driver's namespace). */
  port: string
}

/** A LAN of `hosts` namespaces on one bridge; {@link destroy} removes everything it made. */
export class NamespaceLan {
  readonly hosts: LanHost[] = []
  readonly bridge: string
  /** The second bridge a group is moved to in a partition. */
  readonly cutBridge: string
  readonly subnet: string
  private readonly tag: string
  private destroyed = false

  constructor (count: number, readonly pid = process.pid) {
    if (count < 1 || count > MAX_HOSTS) throw new Error(`a LAN has 1 to ${MAX_HOSTS} hosts`)
    this.tag = `${LAN_PREFIX}${pid}`
    if (this.tag.length > 11) throw new Error(`pid ${pid} too long for interface names`)
    this.bridge = `${this.tag}lan`
    this.cutBridge = `${this.tag}cut`
    // Two /24s chosen by the pid, so LANs of two drivers at once do not overlap: 10.X.Y.0/24 the LAN, 10.X.(Y+128).0/24 the management links.
    const x = 64 + (pid % 128)
    const y = Math.floor(pid / 128) % 128
    this.subnet = `10.${x}.${y}.0/24`
    for (let i = 0; i < count; i++) {
      this.hosts.push({
        index: i,
        namespace: `${LAN_PREFIX}-${pid}-h${i}`,
        lanAddress: `10.${x}.${y}.${i + 10}`,
        mgmtAddress: `10.${x}.${y + 128}.${4 * i + 2}`,
        port: `${this.tag}h${i}`
      })
    }
  }

  /** Creates the bridges, the namespaces and their links. On a failure whatever was made is removed and the error thrown. */
  create (): void {
    try {
      for (const br of [this.bridge, this.cutBridge]) {
        ip('link', 'add', br, 'type', 'bridge')
        // No IGMP snooping: mDNS multicast reaches every port from the first packet.
        ip('link', 'set', br, 'type', 'bridge', 'mcast_snooping', '0')
        ip('link', 'set', br, 'up')
      }
      for (const h of this.hosts) this.createHost(h)
    } catch (err) {
      this.destroy()
      throw new Error(`could not build the LAN: ${firstLine(err)}`, { cause: err })
    }
  }

  private createHost (h: LanHost): void {
    const ns = h.namespace
    const mgmtHere = `${this.tag}m${h.index}`
    const inNs = (...args: string[]): string => ip('-n', ns, ...args)
    ip('netns', 'add', ns)
    inNs('link', 'set', 'lo', 'up')
    ip('link', 'add', h.port, 'type', 'veth', 'peer', 'name', 'lan0', 'netns', ns)
    ip('link', 'set', h.port, 'master', this.bridge)
    ip('link', 'set', h.port, 'up')
    inNs('addr', 'add', `${h.lanAddress}/24`, 'dev', 'lan0')
    inNs('link', 'set', 'lan0', 'up')
    // mDNS goes to 224.0.0.251: without a route for multicast the namespace has none.
    inNs('route', 'add', '224.0.0.0/4', 'dev', 'lan0')
    const [a, b, c] = h.mgmtAddress.split('.')
    const mgmtDriver = `${a}.${b}.${c}.${4 * h.index + 1}`
    ip('link', 'add', mgmtHere, 'type', 'veth', 'peer', 'name', 'mgmt0', 'netns', ns)
    ip('addr', 'add', `${mgmtDriver}/30`, 'dev', mgmtHere)
    ip('link', 'set', mgmtHere, 'up')
    inNs('addr', 'add', `${h.mgmtAddress}/30`, 'dev', 'mgmt0')
    inNs('link', 'set', 'mgmt0', 'up')
  }

  /** The command prefix that runs a program in host `i`'s namespace. */
  wrap (i: number): string[] {
    return ['ip', 'netns', 'exec', this.hosts[i].namespace]
  }

  /** Cuts host `i` off the LAN (its bridge port down: no carrier at either end) or puts it back. */
  setLink (i: number, up: boolean): void {
    ip('link', 'set', this.hosts[i].port, up ? 'up' : 'down')
  }

  /** Moves these hosts to the other bridge: they and the rest become two LANs. */
  split (group: number[]): void {
    for (const i of group) ip('link', 'set', this.hosts[i].port, 'master', this.cutBridge)
  }

  /** Every host back on the one LAN, every port up. */
  heal (): void {
    for (const h of this.hosts) {
      ip('link', 'set', h.port, 'master', this.bridge)
      ip('link', 'set', h.port, 'up')
    }
  }

  /** Removes the namespaces (their processes killed), the veths and the bridges; synchronous, so it also runs on process exit. */
  destroy (): void {
    if (this.destroyed) return
    this.destroyed = true
    removeLeftovers({ only: this.pid })
  }
}
