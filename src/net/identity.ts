/**
 * The node's identity: an Ed25519 key kept in its data dir, so that a
 * restarted node is the same peer (same peer id, same records).
 */
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { NamedError } from '../core/errors.js'

/** File name of the key inside the data dir. */
export const KEY_FILE = 'peer-key'

export interface Identity {
  privateKey: PrivateKey
  peerId: PeerId
  /** Where the key is kept. */
  keyPath: string
  /** True when the key was created by this call (first start). */
  created: boolean
}

/** The key file exists but cannot be used: a named reason instead of a silent new identity. */
export class IdentityError extends NamedError {
  constructor (message: string, readonly code: 'ERR_KEY_UNREADABLE' | 'ERR_KEY_MALFORMED' | 'ERR_KEY_NOT_ED25519') {
    super(message)
  }
}

/** `~/.ppai/<name>`, the default data dir of a node. */
export function defaultDataDir (name: string): string {
  return join(homedir(), '.ppai', name)
}

/**
 * Loads the key from `<dataDir>/peer-key`, or creates it (mode 0600) on first
 * start. A present but broken key is an error: replacing it would silently
 * change who this node is.
 */
export async function loadOrCreateIdentity (dataDir: string): Promise<Identity> {
  const dir = resolve(dataDir)
  const keyPath = join(dir, KEY_FILE)
  let bytes: Uint8Array | undefined
  try {
    bytes = await readFile(keyPath)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new IdentityError(`cannot read ${keyPath}: ${(err as Error).message}`, 'ERR_KEY_UNREADABLE')
    }
  }
  if (bytes != null) {
    let privateKey: PrivateKey
    try {
      privateKey = privateKeyFromProtobuf(bytes)
    } catch (err) {
      throw new IdentityError(`malformed key in ${keyPath}: ${(err as Error).message}`, 'ERR_KEY_MALFORMED')
    }
    if (privateKey.type !== 'Ed25519') throw new IdentityError(`${keyPath} holds a ${privateKey.type} key, not Ed25519`, 'ERR_KEY_NOT_ED25519')
    return { privateKey, peerId: peerIdFromPrivateKey(privateKey), keyPath, created: false }
  }
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const privateKey = await generateKeyPair('Ed25519')
  // 'wx' so that two processes starting at once cannot overwrite each other's key.
  await writeFile(keyPath, privateKeyToProtobuf(privateKey), { mode: 0o600, flag: 'wx' })
  await chmod(keyPath, 0o600)
  return { privateKey, peerId: peerIdFromPrivateKey(privateKey), keyPath, created: true }
}
