/**
 * Load beacons (ARCHITECTURE.md §5): every few seconds a node gossips its backlog,
 * mean service time and arrival rate on `/ppai/<network>/beacons/1`. Received
 * beacons are validated (schema, signer = the peer they speak for) and handed
 * on to the node, which feeds them into its LoadBeliefs.
 */
import { TopicValidatorResult, type GossipSub, type Message } from '@libp2p/gossipsub'
import type { PeerId } from '@libp2p/interface'
import { RejectionError } from '../core/errors.js'
import type { LoadBeacon } from '../core/types.js'
import { LoadBeaconSchema } from './frames.js'
import type { RejectionCounter } from './rejections.js'

export const BEACON_REJECT_REASONS = ['unsigned', 'malformed', 'invalid', 'wrong-peer'] as const
/** Why a received beacon was dropped. */
export type BeaconRejectReason = (typeof BEACON_REJECT_REASONS)[number]

/** How often a node gossips its load beacon, ms, unless configured. */
export const BEACON_INTERVAL_MS = 2000

/** The gossipsub topic of a network's beacons. */
export function beaconTopic (network: string): string {
  return `/ppai/${network}/beacons/1`
}

/** A beacon refused, with its reason. */
export class BeaconRejectedError extends RejectionError<BeaconRejectReason> {}

/** Parses and checks one gossiped beacon message. */
export function openBeacon (msg: Message): LoadBeacon {
  if (msg.type !== 'signed') throw new BeaconRejectedError('unsigned', 'beacons must be signed by their sender')
  let json: unknown
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(msg.data))
  } catch (err) {
    throw new BeaconRejectedError('malformed', (err as Error).message.slice(0, 200))
  }
  const parsed = LoadBeaconSchema.safeParse(json)
  if (!parsed.success) throw new BeaconRejectedError('invalid', parsed.error.issues.map(i => `${i.path.join('.')}: ${i.message}`).join('; ').slice(0, 300))
  if (parsed.data.peerId !== msg.from.toString()) throw new BeaconRejectedError('wrong-peer', `beacon for ${parsed.data.peerId} signed by ${msg.from.toString()}`)
  return parsed.data
}

/** The load a node reports about itself. */
export interface LoadSample {
  backlog: number
  serviceMs: number
  arrivalPerSec: number
}

export interface BeaconServiceInit {
  pubsub: GossipSub
  network: string
  peerId: PeerId
  /** Period of the beacon, ms (default 2000). */
  intervalMs?: number
  sample: () => LoadSample
  /** Called with every valid beacon of another peer. */
  onBeacon: (beacon: LoadBeacon, receivedAt: number) => void
  rejections: RejectionCounter<BeaconRejectReason>
  clock?: () => number
}

/** Publishes this node's beacon periodically and receives the others'. */
export class BeaconService {
  readonly topic: string
  private timer?: NodeJS.Timeout
  private readonly clock: () => number
  private readonly intervalMs: number
  private readonly onMessage = (evt: CustomEvent<Message>): void => {
    const msg = evt.detail
    if (msg.topic !== this.topic) return
    try {
      const beacon = openBeacon(msg)
      if (beacon.peerId === this.init.peerId.toString()) return
      this.init.onBeacon(beacon, this.clock())
    } catch {
      // Already counted by the topic validator, which saw the message first.
    }
  }

  constructor (private readonly init: BeaconServiceInit) {
    this.topic = beaconTopic(init.network)
    this.clock = init.clock ?? Date.now
    this.intervalMs = init.intervalMs ?? BEACON_INTERVAL_MS
  }

  start (): void {
    const { pubsub } = this.init
    pubsub.topicValidators.set(this.topic, (_peer, msg) => {
      try {
        openBeacon(msg)
        return TopicValidatorResult.Accept
      } catch (err) {
        this.init.rejections.count(err instanceof BeaconRejectedError ? err.reason : 'malformed')
        return TopicValidatorResult.Reject
      }
    })
    pubsub.addEventListener('message', this.onMessage)
    pubsub.subscribe(this.topic)
    this.timer = setInterval(() => { void this.publishNow() }, this.intervalMs)
    this.timer.unref()
  }

  /** Sends a beacon now (also called on a sharp change of load). */
  async publishNow (): Promise<LoadBeacon> {
    const beacon: LoadBeacon = { peerId: this.init.peerId.toString(), ...this.init.sample(), sentAt: this.clock() }
    try {
      await this.init.pubsub.publish(this.topic, new TextEncoder().encode(JSON.stringify(beacon)))
    } catch {
      // No mesh peers yet, or stopping: the next period tries again.
    }
    return beacon
  }

  stop (): void {
    clearInterval(this.timer)
    this.init.pubsub.removeEventListener('message', this.onMessage)
    this.init.pubsub.topicValidators.delete(this.topic)
    try {
      this.init.pubsub.unsubscribe(this.topic)
    } catch {
      // Pubsub already stopped.
    }
  }
}
