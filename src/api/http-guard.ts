/**
 * What keeps web pages from driving the node's API: the defences of trusted
 * local servers (Ollama's Host allowlist and `OLLAMA_ORIGINS`, Jupyter's Host
 * check and empty allowed origins).
 *
 * - **Host allowlist** (DNS rebinding): a request is served only when its
 *   `Host` names this machine: `localhost` (and `*.localhost`), 127.0.0.0/8,
 *   `::1`, the address the API listens on, and, when it listens on every
 *   address (0.0.0.0, ::), the machine's own interface addresses and host name.
 * - **Origin / Sec-Fetch-Site**: a browser request from another origin (or
 *   site) is refused unless its origin is listed in `--api-origins` (then
 *   answered with CORS headers by hono's `cors`); the node's own dashboard is
 *   same-origin. Non-browser clients (curl, the OpenAI SDK, `ppai ask`) send
 *   neither header and are not affected. Top-level navigations (a link to the
 *   dashboard) are allowed: what they load shows in the user's tab, not in the
 *   linking page.
 * - **JSON only**: every request that may change something (any method but
 *   GET, HEAD, OPTIONS) must declare `Content-Type: application/json`, which
 *   an HTML form cannot send and a cross-origin `fetch` cannot send without a
 *   CORS preflight.
 * - **Headers** (hono's `secureHeaders`): a Content-Security-Policy that loads
 *   scripts, styles and connections from the node only and forbids framing
 *   (`frame-ancestors 'none'`), `X-Frame-Options: DENY`, `nosniff`, and
 *   `Cross-Origin-Resource-Policy: same-origin`.
 *
 * Each refusal is an {@link ApiError} (403 `forbidden_host` or
 * `forbidden_origin`, 415 `unsupported_media_type`) that names the reason;
 * the app counts it in `/api/status` like every other rejection.
 */
import { hostname, networkInterfaces } from 'node:os'
import type { Context, MiddlewareHandler } from 'hono'
import { cors } from 'hono/cors'
import { secureHeaders } from 'hono/secure-headers'
import { NamedError } from '../core/errors.js'
import { isLoopbackHost } from './auth.js'
import { ApiError } from './errors.js'

/** Methods that only read: no content type required. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])
/** How long the machine's own addresses are reused before they are listed again, ms. */
const OWN_ADDRESSES_MS = 30_000

/** An allowed-origins entry that is not an origin. */
export class OriginListError extends NamedError {}

/**
 * Validates and normalises an allowed-origins list (`--api-origins`): each
 * entry is `*` (every origin) or `scheme://host[:port]` with no path, e.g.
 * `http://localhost:3000`. Throws {@link OriginListError} naming the entry.
 */
export function parseOriginList (entries: readonly string[]): string[] {
  const out: string[] = []
  for (const raw of entries.flatMap(e => e.split(',')).map(e => e.trim()).filter(e => e !== '')) {
    if (raw === '*') {
      out.push('*')
      continue
    }
    let url: URL
    try {
      url = new URL(raw)
    } catch {
      throw new OriginListError(`not an origin: '${raw}' (write scheme://host[:port], e.g. http://localhost:3000, or * for every origin)`)
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new OriginListError(`not an http(s) origin: '${raw}'`)
    if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '' || (url.pathname !== '/' && url.pathname !== '')) {
      throw new OriginListError(`an origin has no path, query or credentials: '${raw}' (did you mean ${url.origin}?)`)
    }
    out.push(url.origin)
  }
  return [...new Set(out)]
}

/** `[::1]:8470` → `::1`, `Example.COM.:80` → `example.com`. */
export function hostnameOf (hostHeader: string): string {
  let h = hostHeader.trim().toLowerCase()
  if (h.startsWith('[')) {
    const end = h.indexOf(']')
    h = end < 0 ? h.slice(1) : h.slice(1, end)
  } else if (h.split(':').length === 2) {
    h = h.slice(0, h.indexOf(':'))
  }
  return h.endsWith('.') ? h.slice(0, -1) : h
}

function isWildcard (host: string): boolean {
  const h = hostnameOf(host)
  return h === '0.0.0.0' || h === '::' || h === '0:0:0:0:0:0:0:0'
}

export interface HttpGuardOptions {
  /** The address the API listens on (default 127.0.0.1). */
  listenHost?: string
  /** Page origins allowed to call the API, as {@link parseOriginList} returns them; `*` allows every origin. */
  origins?: readonly string[]
}

/** The request defences of one API server, and the URL it gives of itself. */
export class HttpGuard {
  readonly listenHost: string
  readonly origins: readonly string[]
  private port?: number
  private own?: { at: number, names: Set<string> }

  constructor (opts: HttpGuardOptions = {}) {
    this.listenHost = opts.listenHost ?? '127.0.0.1'
    this.origins = opts.origins ?? []
  }

  /** Records the bound port: the agent card's URLs use it. */
  listening (port: number): void {
    this.port = port
  }

  /** Whether a `Host` header names this node. */
  allowsHost (hostHeader: string): boolean {
    const name = hostnameOf(hostHeader)
    if (name === '' || isLoopbackHost(name) || name.endsWith('.localhost')) return true
    if (name === hostnameOf(this.listenHost)) return true
    return isWildcard(this.listenHost) && this.ownNames().has(name)
  }

  /** Whether a page at `origin` may call the API (besides the node's own origin). */
  allowsOrigin (origin: string): boolean {
    return this.origins.includes('*') || this.origins.includes(origin)
  }

  /**
   * The API's base URL for documents that name it (the agent card): the
   * configured address, not the request's Host. On a wildcard address, the
   * Host the client used, which {@link hosts} has already limited to this
   * machine's own names.
   */
  baseUrl (c: Context): string {
    if (!isWildcard(this.listenHost)) {
      const h = hostnameOf(this.listenHost)
      const port = this.port ?? Number(new URL(c.req.url).port)
      return `http://${h.includes(':') ? `[${h}]` : h}${port > 0 ? `:${port}` : ''}`
    }
    return `http://${requestHost(c)}`
  }

  /** The middlewares, in the order the app mounts them before authentication. */
  middlewares (): MiddlewareHandler[] {
    const list = [this.headers(), this.hosts(), this.sameOrigin()]
    if (this.origins.length > 0) {
      list.push(cors({ origin: this.origins.includes('*') ? '*' : [...this.origins], allowMethods: ['GET', 'POST', 'OPTIONS'], allowHeaders: ['authorization', 'content-type'], maxAge: 600 }))
    }
    return list
  }

  /** Security headers on every response, refusals included. */
  headers (): MiddlewareHandler {
    return secureHeaders({
      contentSecurityPolicy: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'none'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"]
      },
      xFrameOptions: 'DENY',
      // Plain HTTP on loopback: a Strict-Transport-Security header would only be ignored, or pin a LAN name to HTTPS.
      strictTransportSecurity: false
    })
  }

  /** 403 `forbidden_host` unless `Host` names this node (DNS rebinding). */
  hosts (): MiddlewareHandler {
    return async (c, next) => {
      const host = requestHost(c)
      if (!this.allowsHost(host)) {
        throw new ApiError('forbidden_host', `Host '${host}' is not a name of this node: only localhost, 127.0.0.0/8, ::1 and the API's own address ${this.listenHost} are served (a page that rebinds its DNS name to this machine gets nothing)`)
      }
      await next()
    }
  }

  /** 403 `forbidden_origin` for a browser request from another origin or site that is not allowed. */
  sameOrigin (): MiddlewareHandler {
    return async (c, next) => {
      const origin = c.req.header('origin')
      const site = c.req.header('sec-fetch-site')
      if (origin != null) {
        if (!sameOriginAs(origin, requestHost(c)) && !this.allowsOrigin(origin)) {
          throw new ApiError('forbidden_origin', `requests from the page at ${origin} are refused: only this node's own dashboard may call its API (allow another origin with --api-origins)`)
        }
      } else if ((site === 'cross-site' || site === 'same-site') && !isTopLevelNavigation(c) && !this.origins.includes('*')) {
        throw new ApiError('forbidden_origin', `a ${site} browser request (Sec-Fetch-Site) is refused: only this node's own dashboard may call its API (allow another origin with --api-origins)`)
      }
      await next()
    }
  }

  /** 415 `unsupported_media_type` for a request that may change something without `Content-Type: application/json`. */
  jsonOnly (): MiddlewareHandler {
    return async (c, next) => {
      if (!SAFE_METHODS.has(c.req.method)) {
        const type = c.req.header('content-type')
        const media = type?.split(';')[0].trim().toLowerCase()
        if (media !== 'application/json') {
          throw new ApiError('unsupported_media_type', `${c.req.method} ${c.req.path} takes a JSON body: send it with Content-Type: application/json (got ${type == null ? 'no Content-Type' : `'${type}'`})`)
        }
      }
      await next()
    }
  }

  /** The names and addresses of this machine, for a wildcard listener (refreshed every 30 s: interfaces come and go). */
  private ownNames (): Set<string> {
    const now = Date.now()
    if (this.own != null && now - this.own.at < OWN_ADDRESSES_MS) return this.own.names
    const names = new Set<string>()
    for (const list of Object.values(networkInterfaces())) {
      for (const a of list ?? []) names.add(a.address.toLowerCase().replace(/%.*$/, ''))
    }
    const name = hostname().toLowerCase()
    if (name !== '') {
      names.add(name)
      names.add(`${name}.local`)
    }
    this.own = { at: now, names }
    return names
  }
}

/** The request's `Host` (the URL's authority when the header is absent, as in HTTP/2). */
function requestHost (c: Context): string {
  return c.req.header('host') ?? new URL(c.req.url).host
}

/** Whether `origin` is the origin of an `http://<host>` page. */
function sameOriginAs (origin: string, host: string): boolean {
  try {
    return new URL(origin).origin === new URL(`http://${host}`).origin
  } catch {
    return false
  }
}

/** A link followed in the top-level window: what loads is shown to the user, never to the page that linked. */
function isTopLevelNavigation (c: Context): boolean {
  return (c.req.method === 'GET' || c.req.method === 'HEAD') && c.req.header('sec-fetch-mode') === 'navigate' && c.req.header('sec-fetch-dest') === 'document'
}
