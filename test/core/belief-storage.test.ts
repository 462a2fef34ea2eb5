import { describe, expect, it } from 'vitest'
import { ExpiryHeap } from '../../src/core/expiry-heap.js'
import { ABSENT, IntTable } from '../../src/core/int-table.js'
import { NONE, PeerRecords } from '../../src/core/peer-records.js'
import { seededRng } from '../../src/core/rng.js'

describe('IntTable', () => {
  it('agrees with a Map over a long run of random adds and deletes, through resizes', () => {
    const rng = seededRng('int-table')
    const table = new IntTable(4)
    const reference = new Map<number, number>()
    for (let step = 0; step < 20_000; step++) {
      const key = Math.floor(rng() * 2000)
      if (reference.has(key)) {
        table.delete(key)
        reference.delete(key)
      } else {
        table.add(key, step)
        reference.set(key, step)
      }
      if (step % 97 === 0) {
        for (let k = 0; k < 2000; k += 7) expect(table.get(k)).toBe(reference.get(k) ?? ABSENT)
      }
    }
    expect(table.size).toBe(reference.size)
    for (const [k, v] of reference) expect(table.get(k)).toBe(v)
  })
})

describe('ExpiryHeap', () => {
  it('pops its entries earliest first, with their slot and stamp', () => {
    const rng = seededRng('expiry-heap')
    const heap = new ExpiryHeap()
    const entries = Array.from({ length: 500 }, (_, i) => ({ at: Math.floor(rng() * 1000), slot: i, stamp: i * 3 }))
    for (const e of entries) heap.push(e.at, e.slot, e.stamp)
    expect(heap.size).toBe(500)
    const popped: Array<{ at: number, slot: number, stamp: number }> = []
    while (heap.size > 0) {
      popped.push({ at: heap.topAt(), slot: heap.topSlot(), stamp: heap.topStamp() })
      heap.pop()
    }
    expect(popped.map(e => e.at)).toEqual(entries.map(e => e.at).sort((a, b) => a - b))
    for (const e of popped) expect(e.stamp).toBe(e.slot * 3)
    heap.push(5, 1, 1)
    heap.clear()
    expect(heap.size).toBe(0)
  })
})

describe('PeerRecords', () => {
  it('finds peers by id or by index, keeps them in touch order and reuses released slots', () => {
    for (const peerIndex of [undefined, (id: string) => Number(id.slice(1))]) {
      const records = new PeerRecords(3, peerIndex)
      const slots = ['p0', 'p1', 'p2'].map(id => {
        const slot = records.allocate(id)
        records.touch(slot, false)
        return slot
      })
      records.touch(slots[0], true)
      const order: number[] = []
      for (let s = records.oldest; s !== NONE; s = records.next(s)) order.push(s)
      expect(order).toEqual([slots[1], slots[2], slots[0]])
      expect(records.find('p2')).toBe(slots[2])
      expect(records.slotOf('p2')).toBe(slots[2])
      records.release(slots[1])
      expect(records.find('p1')).toBe(NONE)
      expect(records.slotOf('p1')).toBe(NONE)
      expect(records.size).toBe(2)
      expect(records.allocate('p9')).toBe(slots[1])
      expect(records.rec.length).toBeGreaterThanOrEqual(3 * 3)
    }
  })
})
