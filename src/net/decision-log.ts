/**
 * The node's recent routing decisions, newest last, in a fixed-size ring:
 * what the dashboard and `GET /api/decisions` show.
 */
import type { DecisionRecord } from './service.js'

export class DecisionLog {
  private readonly items: DecisionRecord[] = []

  constructor (readonly capacity = 200) {}

  add (record: DecisionRecord): void {
    this.items.push(record)
    if (this.items.length > this.capacity) this.items.shift()
  }

  /** The newest `limit` records, newest first. */
  recent (limit = 50): DecisionRecord[] {
    return this.items.slice(-Math.max(0, limit)).reverse()
  }

  get size (): number {
    return this.items.length
  }
}
