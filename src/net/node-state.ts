/**
 * What a node has learnt, kept across crashes: its own profile
 * (`profile.bin`, the profile codec's bytes) and what it observed of its
 * peers' answers (`peers.json`: per peer, the observed profile and the
 * ratings). Each file is written soon after a change (at most one write per
 * `saveDelayMs`) with write-file-atomic (a temporary file, fsync, rename),
 * then the folder is fsynced; the file it replaces is kept as `<file>.prev`.
 * So at every moment one complete copy exists, and a SIGKILL loses at most the
 * changes of the last `saveDelayMs` plus one write.
 *
 * On start each file is validated (the codec's checks, a schema, the
 * embedding space); one that cannot be used is moved aside to
 * `<file>.<reason>-<time>`, never overwritten, the previous copy is tried,
 * and what was set aside is reported.
 */
import { open, readdir, readFile, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import writeFileAtomic from 'write-file-atomic'
import { z } from 'zod'
import { ReasonError } from '../core/errors.js'
import { decodeProfile, encodeProfile } from '../core/profile-codec.js'
import type { Profile } from '../core/types.js'
import type { Logger } from '../log.js'

/** File of the own profile inside the data dir. */
export const PROFILE_FILE = 'profile.bin'
/** File of the observations of peers inside the data dir. */
export const PEERS_FILE = 'peers.json'
/** Suffix of the copy a save replaced. */
export const PREVIOUS_SUFFIX = '.prev'
/** Default longest time between a change and its write, ms. */
export const DEFAULT_SAVE_DELAY_MS = 500

/** What this node observed of its peers: per-peer observed profiles and rating tallies. */
export interface PeerState {
  /** Least recently recorded first. */
  observations: Array<{ peerId: string, profile: Profile }>
  ratings: Array<{ peerId: string, sum: number, count: number }>
}

/** A saved file that could not be used and was moved aside. */
export interface SetAside {
  file: string
  movedTo: string
  reason: string
}

/** What a start finds in the data dir. */
export interface LoadedState {
  profile?: Profile
  peers?: PeerState
  /** Which copy each state came from (`profile.bin`, `profile.bin.prev`, ...). */
  from: string[]
  setAside: SetAside[]
}

/** Why a saved file is not used. */
class Unusable extends ReasonError<'damaged' | 'other-space'> {}

const PeerId = z.string().min(1).max(128)
const PeersFileSchema = z.object({
  format: z.literal(1),
  embedderId: z.string().min(1),
  savedAt: z.number(),
  observations: z.array(z.object({ peerId: PeerId, profile: z.string().max(1024 * 1024) })).max(100_000),
  ratings: z.array(z.object({ peerId: PeerId, sum: z.number().finite().min(0), count: z.number().int().min(0) })).max(100_000)
}).strict()

function decodeOwnProfile (bytes: Uint8Array, embedderId: string): Profile {
  let profile: Profile
  try {
    profile = decodeProfile(bytes)
  } catch (err) {
    throw new Unusable('damaged', (err as Error).message)
  }
  if (profile.embedderId !== embedderId) throw new Unusable('other-space', `a profile of another embedding space (${profile.embedderId}, this node uses ${embedderId})`)
  return profile
}

function encodePeers (peers: PeerState, embedderId: string, savedAt: number): string {
  return JSON.stringify({
    format: 1,
    embedderId,
    savedAt,
    observations: peers.observations.map(o => ({ peerId: o.peerId, profile: Buffer.from(encodeProfile(o.profile)).toString('base64') })),
    ratings: peers.ratings
  })
}

function decodePeers (bytes: Uint8Array, embedderId: string): PeerState {
  let json: unknown
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'))
  } catch (err) {
    throw new Unusable('damaged', `not JSON: ${(err as Error).message}`)
  }
  const parsed = PeersFileSchema.safeParse(json)
  if (!parsed.success) throw new Unusable('damaged', parsed.error.issues.slice(0, 3).map(i => `${i.path.join('.')}: ${i.message}`).join('; '))
  if (parsed.data.embedderId !== embedderId) throw new Unusable('other-space', `observations in another embedding space (${parsed.data.embedderId}, this node uses ${embedderId})`)
  const observations = parsed.data.observations.map(o => {
    try {
      return { peerId: o.peerId, profile: decodeOwnProfile(new Uint8Array(Buffer.from(o.profile, 'base64')), embedderId) }
    } catch (err) {
      throw new Unusable('damaged', `observations of ${o.peerId}: ${(err as Error).message}`)
    }
  })
  return { observations, ratings: parsed.data.ratings }
}

/** Saves and loads one node's learnt state in its data dir. */
export class NodeStateStore {
  readonly profilePath: string
  readonly peersPath: string

  constructor (readonly dataDir: string, private readonly embedderId: string, private readonly log?: Logger) {
    this.profilePath = join(dataDir, PROFILE_FILE)
    this.peersPath = join(dataDir, PEERS_FILE)
  }

  /** Reads what was saved; unusable files are moved aside (and logged), the previous copies tried. */
  async load (): Promise<LoadedState> {
    await this.removeStaleTemporaries()
    const out: LoadedState = { from: [], setAside: [] }
    const profile = await this.loadFile(this.profilePath, bytes => decodeOwnProfile(bytes, this.embedderId), out)
    if (profile != null) out.profile = profile
    const peers = await this.loadFile(this.peersPath, bytes => decodePeers(bytes, this.embedderId), out)
    if (peers != null) out.peers = peers
    return out
  }

  /** Writes both files (each atomically, the one it replaces kept as `.prev`). */
  async save (state: { profile: Profile, peers: PeerState }, now = Date.now()): Promise<void> {
    // Encoded first: a state that cannot be encoded leaves the files on disk as they are.
    const profileBytes = Buffer.from(encodeProfile(state.profile))
    const peersText = encodePeers(state.peers, this.embedderId, now)
    await this.replace(this.profilePath, profileBytes)
    await this.replace(this.peersPath, peersText)
    await fsyncDir(this.dataDir)
  }

  private async replace (path: string, data: Buffer | string): Promise<void> {
    await rename(path, path + PREVIOUS_SUFFIX).catch((err: NodeJS.ErrnoException) => { if (err.code !== 'ENOENT') throw err })
    await writeFileAtomic(path, data, { mode: 0o600 })
  }

  private async loadFile<T> (path: string, decode: (bytes: Uint8Array) => T, out: LoadedState): Promise<T | undefined> {
    for (const candidate of [path, path + PREVIOUS_SUFFIX]) {
      let bytes: Uint8Array
      try {
        bytes = new Uint8Array(await readFile(candidate))
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue
        throw err
      }
      try {
        const value = decode(bytes)
        out.from.push(candidate)
        if (candidate !== path) this.log?.warn({ file: candidate }, `${path} missing or set aside: using the previous copy`)
        return value
      } catch (err) {
        if (!(err instanceof Unusable)) throw err
        const movedTo = `${path}.${err.reason}-${new Date().toISOString().replace(/[:.]/g, '-')}${candidate === path ? '' : PREVIOUS_SUFFIX}`
        await rename(candidate, movedTo)
        out.setAside.push({ file: candidate, movedTo, reason: err.message })
        this.log?.warn({ file: candidate, movedTo, reason: err.message }, `saved state set aside (${err.reason}): ${candidate} moved to ${movedTo}`)
      }
    }
    return undefined
  }

  /** Temporary files of writes a crash interrupted (`<file>.<number>`, write-file-atomic's names). */
  private async removeStaleTemporaries (): Promise<void> {
    let names: string[]
    try {
      names = await readdir(this.dataDir)
    } catch {
      return
    }
    const stale = names.filter(n => /^(profile\.bin|peers\.json)\.\d+$/.test(n))
    await Promise.all(stale.map(async n => await rm(join(this.dataDir, n), { force: true })))
  }
}

/** Makes the renames in `dir` durable (a no-op where directories cannot be opened for sync). */
async function fsyncDir (dir: string): Promise<void> {
  let fh
  try {
    fh = await open(dir, 'r')
    await fh.sync()
  } catch {
    // Some file systems refuse fsync on a directory; the rename itself is still atomic.
  } finally {
    await fh?.close()
  }
}

/** What a {@link StateSaver} reads of a node. */
export interface StatefulNode {
  profile(): Profile
  peerState(): PeerState
}

/** Saves a node's state soon after each change and on demand. */
export class StateSaver {
  private timer?: NodeJS.Timeout
  private running?: Promise<void>
  private again = false
  private stopped = false
  /** Writes done, and the time of the last one. */
  saves = 0
  lastSavedAt = 0

  constructor (private readonly store: NodeStateStore, private readonly node: StatefulNode, private readonly delayMs = DEFAULT_SAVE_DELAY_MS, private readonly log?: Logger) {}

  /** Something changed: write within `delayMs` (changes meanwhile go in the same write). */
  changed (): void {
    if (this.stopped) return
    if (this.running != null) {
      this.again = true
      return
    }
    if (this.timer != null) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      void this.run()
    }, this.delayMs)
    this.timer.unref()
  }

  /** Writes now (waiting for a write in progress first); later changes are not saved after `close`. */
  async flush (opts: { close?: boolean } = {}): Promise<void> {
    if (opts.close === true) this.stopped = true
    clearTimeout(this.timer)
    this.timer = undefined
    await this.running
    await this.run()
  }

  private async run (): Promise<void> {
    if (this.running != null) {
      this.again = true
      return await this.running
    }
    this.again = false
    const write = this.store.save({ profile: this.node.profile(), peers: this.node.peerState() })
      .then(() => { this.saves++; this.lastSavedAt = Date.now() })
      .catch(err => this.log?.warn({ err: (err as Error).message, dataDir: this.store.dataDir }, 'could not save the node state'))
    this.running = write
    await write
    this.running = undefined
    if (this.again) this.changed()
  }
}
