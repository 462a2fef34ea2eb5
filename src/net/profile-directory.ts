/**
 * What this node knows of other peers' profiles: verified records from gossip
 * and from the DHT, newest version per peer, dropped when they expire. It is
 * also where replays are caught: a record older than the one held is refused.
 */
import type { ContentRouting } from '@libp2p/interface'
import { openCounted, profileRecordKey, type ProfileRecord, type RecordRejectReason } from './records.js'
import type { RejectionCounter } from './rejections.js'

export interface ProfileDirectoryInit {
  network: string
  embedderId: string
  selfId: string
  routing: ContentRouting
  rejections: RejectionCounter<RecordRejectReason>
  /** Time before a failed DHT lookup of a peer is tried again, ms (default 5000). */
  retryMs?: number
  clock?: () => number
}

/** Verified profile records by peer id. */
export class ProfileDirectory {
  private readonly records = new Map<string, ProfileRecord>()
  private readonly failedAt = new Map<string, number>()
  private readonly pending = new Map<string, Promise<ProfileRecord | undefined>>()
  private readonly clock: () => number

  constructor (private readonly init: ProfileDirectoryInit) {
    this.clock = init.clock ?? Date.now
  }

  /**
   * Checks a record (from gossip, or fetched) and keeps it if it is the
   * newest of its peer. Throws RecordRejectedError (already counted).
   */
  async accept (bytes: Uint8Array, expectedPeerId?: string): Promise<ProfileRecord> {
    const known = expectedPeerId == null ? undefined : this.records.get(expectedPeerId)
    const rec = await openCounted(bytes, {
      network: this.init.network,
      embedderId: this.init.embedderId,
      now: this.clock(),
      peerId: expectedPeerId,
      knownVersion: known?.version,
      knownIssuedAt: known?.issuedAt
    }, this.init.rejections)
    const held = this.records.get(rec.peerId)
    if (held == null || rec.version > held.version || (rec.version === held.version && rec.issuedAt >= held.issuedAt)) {
      this.records.set(rec.peerId, rec)
    }
    this.failedAt.delete(rec.peerId)
    return this.records.get(rec.peerId) as ProfileRecord
  }

  /** The held, unexpired record of a peer. */
  get (peerId: string): ProfileRecord | undefined {
    const rec = this.records.get(peerId)
    if (rec != null && rec.expiresAt <= this.clock()) {
      this.records.delete(peerId)
      return undefined
    }
    return rec
  }

  /** Every held, unexpired record. */
  all (): ProfileRecord[] {
    return [...this.records.keys()].map(id => this.get(id)).filter((r): r is ProfileRecord => r != null)
  }

  /** The held record, else one fetched from the DHT (one lookup at a time per peer; failures wait `retryMs`). */
  async fetch (peerId: string, opts: { timeoutMs?: number } = {}): Promise<ProfileRecord | undefined> {
    const held = this.get(peerId)
    if (held != null) return held
    if (peerId === this.init.selfId) return undefined
    const failed = this.failedAt.get(peerId)
    if (failed != null && this.clock() - failed < (this.init.retryMs ?? 5000)) return undefined
    let p = this.pending.get(peerId)
    if (p == null) {
      p = this.lookup(peerId, opts.timeoutMs ?? 1500).finally(() => this.pending.delete(peerId))
      this.pending.set(peerId, p)
    }
    return await p
  }

  /** Forgets a peer (it left or failed). */
  forget (peerId: string): void {
    this.records.delete(peerId)
  }

  private async lookup (peerId: string, timeoutMs: number): Promise<ProfileRecord | undefined> {
    try {
      const bytes = await this.init.routing.get(profileRecordKey(this.init.network, peerId), { signal: AbortSignal.timeout(Math.max(1, Math.ceil(timeoutMs))) })
      return await this.accept(bytes, peerId)
    } catch {
      this.failedAt.set(peerId, this.clock())
      return undefined
    }
  }
}
