/**
 * Structured logs (pino) on stderr, so that stdout stays for results.
 * Level from `PPAI_LOG` (default `info`; `silent` to turn off).
 */
import { pino, type Logger } from 'pino'

export type { Logger }

export function createLogger (name: string, level: string = process.env.PPAI_LOG ?? 'info'): Logger {
  return pino({ name, level }, pino.destination(2))
}
