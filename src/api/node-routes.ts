/**
 * The node's own API for its owner and the dashboard: status, peers, the
 * decision log, feedback, the prototype map and the live event feed.
 */
import { Hono } from 'hono'
import { PROJECTION_NAME, projectProfile, type MapPoint } from '../core/map-projection.js'
import type { RejectionCounter } from '../net/rejections.js'
import type { NodeService } from '../net/service.js'
import { ApiError, type ApiErrorReason } from './errors.js'
import { eventFeed, type FeedRegistry } from './event-feed.js'
import { readJsonBody } from './json-body.js'
import { DecisionsQuery, FeedbackRequest, describeIssues } from './schemas.js'

export interface NodeRoutesDeps {
  rejections: RejectionCounter<ApiErrorReason>
  feeds: FeedRegistry
}

/** Own prototypes projected here; peers' where they advertise a 2-D position. */
export function prototypeMap (service: NodeService): { projection: string, own: MapPoint[], peers: Array<{ peerId: string, name?: string, points: MapPoint[] }> } {
  const profile = service.profile()
  return {
    projection: `${PROJECTION_NAME}, ${profile.embedderId}`,
    own: projectProfile(profile),
    peers: service.peers().map(p => ({
      peerId: p.peerId,
      name: p.name,
      points: p.prototypes.flatMap(q => q.centroid2d == null ? [] : [{ x: q.centroid2d[0], y: q.centroid2d[1], count: q.count, quality: q.quality }])
    }))
  }
}

export function nodeRoutes (service: NodeService, deps: NodeRoutesDeps): Hono {
  const app = new Hono()

  app.get('/status', c => c.json({ ...service.status(), api: { rejected: deps.rejections.snapshot(), liveFeeds: deps.feeds.size } }))

  app.get('/peers', c => c.json({ peers: service.peers() }))

  app.get('/decisions', c => {
    const query = DecisionsQuery.safeParse({ limit: c.req.query('limit') })
    if (!query.success) throw new ApiError('invalid_query', `limit: ${describeIssues(query.error)}`, 'limit')
    return c.json({ decisions: service.decisions(query.data.limit) })
  })

  app.post('/feedback', async c => {
    const body = FeedbackRequest.parse(await readJsonBody(c.req.raw))
    if (!service.feedback(body.id, body.rating)) throw new ApiError('unknown_answer_id', `no answer with id '${body.id}'`, 'id')
    return c.json({ ok: true, id: body.id, rating: body.rating })
  })

  app.get('/map', c => c.json(prototypeMap(service)))

  app.get('/events', c => eventFeed(c, service, deps.feeds))

  return app
}
