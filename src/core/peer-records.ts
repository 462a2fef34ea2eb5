/**
 * Storage of one number record per peer, in flat arrays, with a recency
 * order: the beliefs' memory (core/beliefs.ts says what the numbers mean).
 *
 * A simulated network holds 10,000 of these stores, millions of records:
 * objects per peer were most of its heap and of its garbage-collection work.
 * The arrays are plain arrays of unboxed doubles (and small integers), grown
 * by doubling their capacity in one copy (not a push per field): they live on
 * the heap like the objects did, but hold no pointers to trace; typed arrays
 * would be off-heap buffers whose growth triggers a full collection every few
 * dozen MB ("external memory pressure").
 */
import { ReasonError } from './errors.js'
import { ABSENT, IntTable } from './int-table.js'

/** No slot: a peer not held, or the end of the recency order. */
export const NONE = -1

/** Why an input of the beliefs was rejected: countable. */
export type BeliefsInputReason = 'peer-index'

/** `peerIndex` gave no valid index for a peer id; `reason` is countable. */
export class BeliefsInputError extends ReasonError<BeliefsInputReason> {}

export class PeerRecords {
  /** `fields` numbers per slot, for `capacity` slots; replaced when it grows (read it after {@link allocate}). */
  rec: number[] = []
  /** The least recently touched slot and the most (NONE: none); iterate with {@link next}. */
  oldest = NONE
  newest = NONE
  /** Recency order, least recently touched first: previous and next slot per slot (NONE at the ends). */
  private links: number[] = []
  /** Peer id -> slot (without `peerIndex`). */
  private readonly slots = new Map<string, number>()
  /** With `peerIndex`: peer index -> slot. */
  private readonly table: IntTable | undefined
  /** Peers held. */
  private peers = 0
  /** Slot -> peer id ('' when free). */
  private readonly ids: string[] = []
  /** Slots the arrays hold. */
  private capacity = 0
  /** Free slots (released peers). */
  private readonly free: number[] = []
  private usedSlots = 0
  /**
   * The peer of the last lookup and its slot (NONE: not held): a decision asks
   * for a candidate's belief and then its service time, one lookup for both.
   * Cleared when a slot is given to a peer or released.
   */
  private lastPeer: string | undefined = undefined
  private lastSlot = NONE

  /**
   * @param fields - numbers in a record
   * @param peerIndex - a dense index the caller keeps of the peer ids it passes
   *   (a distinct non-negative integer per id, the same for the store's whole
   *   life): records are then found through an {@link IntTable} instead of a
   *   map of strings
   */
  constructor (private readonly fields: number, private readonly peerIndex?: (peerId: string) => number) {
    this.table = peerIndex === undefined ? undefined : new IntTable(16)
  }

  /** Peers held. */
  get size (): number {
    return this.peers
  }

  /** The slot after `slot` in the recency order (NONE at the newest end). */
  next (slot: number): number {
    return this.links[slot * 2 + 1]
  }

  /** The slot of `peerId`, NONE when it is not held. */
  find (peerId: string): number {
    if (this.table === undefined) return this.slots.get(peerId) ?? NONE
    const slot = this.table.get(this.keyOf(peerId))
    return slot === ABSENT ? NONE : slot
  }

  /** {@link find}, remembered for the next call with the same peer. */
  slotOf (peerId: string): number {
    if (peerId === this.lastPeer) return this.lastSlot
    const slot = this.find(peerId)
    this.lastPeer = peerId
    this.lastSlot = slot
    return slot
  }

  /** A slot for `peerId` (not held yet), not yet in the recency order; its record holds leftovers. */
  allocate (peerId: string): number {
    let slot = this.free.pop()
    if (slot === undefined) {
      slot = this.usedSlots++
      if (slot === this.capacity) this.grow()
    }
    this.lastPeer = undefined
    this.ids[slot] = peerId
    this.peers++
    if (this.table === undefined) this.slots.set(peerId, slot)
    else this.table.add(this.keyOf(peerId), slot)
    return slot
  }

  /** Takes `slot` out of the recency order and frees it, with its peer id. */
  release (slot: number): void {
    this.lastPeer = undefined
    this.unlink(slot)
    const peerId = this.ids[slot]
    this.peers--
    if (this.table === undefined) this.slots.delete(peerId)
    else this.table.delete(this.keyOf(peerId))
    this.ids[slot] = ''
    this.free.push(slot)
  }

  /** Moves `slot` to the newest end of the recency order (`linked`: it is in the order already). */
  touch (slot: number, linked: boolean): void {
    if (linked) this.unlink(slot)
    const links = this.links
    links[slot * 2] = this.newest
    links[slot * 2 + 1] = NONE
    if (this.newest === NONE) this.oldest = slot
    else links[this.newest * 2 + 1] = slot
    this.newest = slot
  }

  private unlink (slot: number): void {
    const links = this.links
    const prev = links[slot * 2]
    const next = links[slot * 2 + 1]
    if (prev === NONE) this.oldest = next
    else links[prev * 2 + 1] = next
    if (next === NONE) this.newest = prev
    else links[next * 2] = prev
  }

  /** Doubles the slots the arrays hold (at least 16), in one copy each. */
  private grow (): void {
    const more = Math.max(16, this.capacity)
    // -0.5, not 0: the records' elements are doubles from the start (0 would start them as small integers).
    this.rec = this.rec.concat(new Array<number>(more * this.fields).fill(-0.5))
    this.links = this.links.concat(new Array<number>(more * 2).fill(NONE))
    this.capacity += more
  }

  private keyOf (peerId: string): number {
    const key = (this.peerIndex as (peerId: string) => number)(peerId)
    if (!(Number.isInteger(key) && key >= 0 && key <= 0x3fffffff)) throw new BeliefsInputError('peer-index', `peerIndex gave ${key} for peer ${peerId}: not a non-negative integer`)
    return key
  }
}
