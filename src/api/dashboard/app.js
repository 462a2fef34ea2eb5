// PPAI node dashboard: plain JS, no build step. Polls status/peers/map, follows
// the live event feed (SSE read through fetch, so the bearer token can be sent).
const POLL_MS = 2000
const LOAD_WINDOW_MS = 5 * 60 * 1000
const MAX_DECISIONS = 60
const OWN_COLOR = '#4fb3ff'
const PALETTE = ['#f5b944', '#3ecf8e', '#ff6b6b', '#c792ea', '#ff9f5a', '#7fdbca', '#e6e26a', '#f78fb3', '#9aa8ff', '#b5e48c']
const SVG_NS = 'http://www.w3.org/2000/svg'

const storage = window.sessionStorage
const hashToken = /token=([^&]+)/.exec(window.location.hash)
if (hashToken) storage.setItem('ppai-token', decodeURIComponent(hashToken[1]))

const state = {
  status: null,
  peers: [],
  decisions: new Map(),
  loads: [],
  colors: new Map(),
  names: new Map(),
  /** Answer id -> rating given from this page. */
  rated: new Map()
}

// ---------- helpers ----------
const $ = id => document.getElementById(id)

/** Builds an element; strings become text nodes, so no question text is ever parsed as HTML. */
function h (tag, attrs = {}, ...children) {
  const el = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null) continue
    if (k === 'class') el.className = v
    // Through the CSSOM: the Content-Security-Policy (style-src 'self') refuses style attributes.
    else if (k === 'style') el.style.cssText = v
    else el.setAttribute(k, v)
  }
  for (const c of children.flat()) if (c != null) el.append(c instanceof window.Node ? c : String(c))
  return el
}

function s (tag, attrs = {}, text) {
  const el = document.createElementNS(SVG_NS, tag)
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v))
  if (text != null) el.textContent = text
  return el
}

function headers (extra = {}) {
  const token = storage.getItem('ppai-token')
  return token ? { ...extra, authorization: `Bearer ${token}` } : extra
}

async function api (path, init = {}) {
  const res = await fetch(path, { ...init, headers: headers(init.headers) })
  if (res.status === 401) {
    $('token-bar').hidden = false
    throw new Error('unauthorized')
  }
  const body = await res.json()
  if (!res.ok) throw new Error(body?.error?.message ?? `HTTP ${res.status}`)
  return body
}

const short = id => (id && id.length > 16 ? `${id.slice(0, 6)}…${id.slice(-6)}` : id)

function colorOf (peerId) {
  if (peerId === 'local' || (state.status && peerId === state.status.peerId)) return OWN_COLOR
  if (!state.colors.has(peerId)) state.colors.set(peerId, PALETTE[state.colors.size % PALETTE.length])
  return state.colors.get(peerId)
}

function nameOf (peerId) {
  if (peerId === 'local' || (state.status && peerId === state.status.peerId)) return `${state.status?.name ?? 'this node'} (local)`
  return state.names.get(peerId) ?? short(peerId)
}

function swatch (peerId) {
  return h('span', { class: 'swatch', style: `background:${colorOf(peerId)}` })
}

function clock (ms) {
  const d = new Date(ms)
  return d.toTimeString().slice(0, 8)
}

function age (ms) {
  if (ms == null) return '—'
  const sec = Math.max(0, Math.round(ms / 1000))
  return sec < 60 ? `${sec}s ago` : `${Math.round(sec / 60)}m ago`
}

function uptime (ms) {
  const sec = Math.round(ms / 1000)
  if (sec < 120) return `${sec}s`
  if (sec < 7200) return `${Math.round(sec / 60)}m`
  return `${Math.round(sec / 3600)}h`
}

/** Replaces full peer ids in a policy's reason with the peers' names. */
function readable (text) {
  return text.replace(/\b(12D3Koo\w{20,}|Qm\w{40,})\b/g, id => nameOf(id))
}

function fmt (x, digits = 2) {
  return typeof x === 'number' && Number.isFinite(x) ? x.toFixed(digits) : '—'
}

function bar (fraction, cls = '') {
  const w = Math.round(Math.max(0, Math.min(1, fraction)) * 48)
  return h('span', { class: `bar ${cls}`, style: `width:${Math.max(w, 1)}px` })
}

// ---------- header ----------
function renderStatus (st) {
  $('node-name').textContent = st.name
  $('peer-id').textContent = st.peerId
  $('network').textContent = st.network
  $('embedder').textContent = st.embedderId
  $('agent').textContent = st.agent
  document.title = `PPAI · ${st.name}`
  const items = [
    ['peers', st.peers], ['backlog', st.backlog],
    ['served local · remote · refused', `${st.served.local} · ${st.served.remote} · ${st.served.refused}`],
    ['asked · delegated · failed', `${st.asked.total} · ${st.asked.delegated} · ${st.asked.failed}`],
    ['uptime', uptime(st.uptimeMs)]
  ]
  $('stats').replaceChildren(...items.map(([k, v]) => h('div', { class: 'stat' }, h('div', { class: 'v' }, v), h('div', { class: 'k' }, k))))
}

// ---------- peers ----------
function renderPeers (peers) {
  $('peer-count').textContent = String(peers.length)
  const body = $('peers-body')
  if (peers.length === 0) {
    body.replaceChildren(h('tr', { class: 'empty' }, h('td', { colspan: 5 }, 'no peers known yet: this node answers on its own')))
    return
  }
  const now = Date.now()
  body.replaceChildren(...peers.map(p => {
    const quality = p.prototypes.length ? p.prototypes.reduce((a, q) => a + q.quality * q.count, 0) / Math.max(1, p.prototypes.reduce((a, q) => a + q.count, 0)) : null
    return h('tr', { class: 'peer-row', 'data-peer': p.peerId },
      h('td', {}, swatch(p.peerId), h('span', { class: 'peer-name' }, p.name ?? short(p.peerId)), h('div', { class: 'peer-id mono' }, short(p.peerId))),
      h('td', {}, `${p.prototypes.length}`, quality == null ? '' : h('div', { class: 'reason' }, bar(quality, 'q'), ` ${fmt(quality)} adv.`)),
      h('td', {}, fmt(p.believedBacklog, 1)),
      h('td', {}, p.observedCount > 0 ? `${fmt(p.observedSuccess)} (${p.observedCount})` : '—'),
      h('td', {}, p.lastBeacon ? age(now - p.lastBeacon.sentAt) : '—')
    )
  }))
}

// ---------- map ----------
function renderMap (map) {
  const svg = $('map')
  const W = 400
  const H = 300
  const pad = 22
  $('map-projection').textContent = map.projection
  const groups = [{ peerId: 'local', points: map.own, own: true }, ...map.peers.map(p => ({ peerId: p.peerId, points: p.points, own: false }))]
  const all = groups.flatMap(g => g.points)
  const xs = all.map(p => p.x)
  const ys = all.map(p => p.y)
  const span = Math.max(1e-6, Math.max(...xs, 0) - Math.min(...xs, 0), Math.max(...ys, 0) - Math.min(...ys, 0))
  const cx = (Math.max(...xs, 0) + Math.min(...xs, 0)) / 2
  const cy = (Math.max(...ys, 0) + Math.min(...ys, 0)) / 2
  const scale = (Math.min(W, H) - 2 * pad) / span
  const X = x => W / 2 + (x - cx) * scale
  const Y = y => H / 2 - (y - cy) * scale
  const nodes = [
    s('line', { class: 'axis', x1: 0, x2: W, y1: Y(0), y2: Y(0) }),
    s('line', { class: 'axis', y1: 0, y2: H, x1: X(0), x2: X(0) })
  ]
  // Peers first, own prototypes drawn on top.
  for (const g of [...groups].reverse()) {
    for (const p of g.points) {
      const r = Math.min(16, 4 + 2.2 * Math.sqrt(p.count))
      const c = s('circle', { class: `map-point${g.own ? ' own' : ''}`, cx: X(p.x).toFixed(1), cy: Y(p.y).toFixed(1), r: r.toFixed(1), fill: colorOf(g.peerId), 'fill-opacity': (0.3 + 0.7 * p.quality).toFixed(2), 'data-peer': g.peerId })
      c.append(s('title', {}, `${nameOf(g.peerId)}: ${Math.round(p.count)} queries, success ${fmt(p.quality)}`))
      nodes.push(c)
    }
  }
  if (all.length === 0) nodes.push(s('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'gridtext' }, 'no prototypes yet'))
  svg.replaceChildren(...nodes)
  const missing = map.peers.filter(p => p.points.length === 0).length
  $('map-legend').replaceChildren(...[
    ...groups.filter(g => g.own || g.points.length > 0).map(g => h('span', {}, swatch(g.peerId), `${nameOf(g.peerId)} · ${g.points.length}`)),
    h('span', {}, 'size: queries summarised · opacity: estimated success'),
    missing > 0 ? h('span', {}, `${missing} peer(s) advertise no 2-D position`) : null
  ].filter(x => x != null))
}

// ---------- loads ----------
function recordLoads (st, peers) {
  const now = Date.now()
  const sample = { t: now, values: { local: st.backlog } }
  for (const p of peers) if (typeof p.believedBacklog === 'number') sample.values[p.peerId] = p.believedBacklog
  state.loads.push(sample)
  while (state.loads.length > 0 && state.loads[0].t < now - LOAD_WINDOW_MS) state.loads.shift()
}

function renderLoads () {
  const svg = $('loads')
  const W = 400
  const H = 170
  const left = 26
  const bottom = 16
  const now = Date.now()
  const ids = [...new Set(state.loads.flatMap(s => Object.keys(s.values)))]
  const max = Math.max(1, ...state.loads.flatMap(s => Object.values(s.values)))
  // The window grows with the history, from one minute to five.
  const windowMs = Math.min(LOAD_WINDOW_MS, Math.max(60_000, now - (state.loads[0]?.t ?? now)))
  const X = t => left + (W - left - 4) * (1 - (now - t) / windowMs)
  const Y = v => 6 + (H - bottom - 6) * (1 - v / max)
  const nodes = [
    s('line', { class: 'axis', x1: left, x2: W, y1: Y(0), y2: Y(0) }),
    s('line', { class: 'axis', x1: left, x2: left, y1: 6, y2: Y(0) }),
    s('text', { class: 'gridtext', x: left - 4, y: Y(max) + 8, 'text-anchor': 'end' }, fmt(max, max < 10 ? 1 : 0)),
    s('text', { class: 'gridtext', x: left - 4, y: Y(0), 'text-anchor': 'end' }, '0'),
    s('text', { class: 'gridtext', x: left, y: H - 3 }, `−${Math.round(windowMs / 60_000)} min`),
    s('text', { class: 'gridtext', x: W - 4, y: H - 3, 'text-anchor': 'end' }, 'now')
  ]
  for (const id of ids) {
    const pts = state.loads.filter(s => id in s.values).map(s => `${X(s.t).toFixed(1)},${Y(s.values[id]).toFixed(1)}`)
    if (pts.length === 0) continue
    nodes.push(s('polyline', { points: pts.join(' '), fill: 'none', stroke: colorOf(id), 'stroke-width': id === 'local' ? 2.2 : 1.6, class: 'load-line', 'data-peer': id }))
  }
  svg.replaceChildren(...nodes)
  $('loads-legend').replaceChildren(...ids.map(id => h('span', {}, swatch(id), id === 'local' ? `${nameOf(id)} (observed)` : `${nameOf(id)} (believed)`)))
}

// ---------- decisions ----------
function decisionRow (d) {
  const chosen = d.decision?.action
  const byId = new Map(d.candidates.map(c => [c.id, c]))
  const options = d.decision?.explanation?.length
    ? d.decision.explanation.map(e => ({ id: e.action, success: e.success, probability: e.probability }))
    : d.candidates.map(c => ({ id: c.id, success: c.success, probability: c.probability }))
  options.sort((a, b) => b.probability - a.probability)
  const shown = options.slice(0, 5)
  const cands = h('div', { class: 'cands' },
    ...shown.map(o => h('div', { class: `cand${o.id === chosen ? ' chosen' : ''}` },
      h('span', {}, swatch(o.id), o.id === 'local' ? 'local' : nameOf(o.id)),
      h('span', { class: 'p' }, bar(o.success, 'q'), fmt(o.success)),
      h('span', { class: 'p' }, bar(o.probability), fmt(o.probability), byId.get(o.id) ? h('span', { class: 'reason' }, ` q≈${fmt(byId.get(o.id).believedBacklog, 1)}`) : null))),
    options.length > shown.length ? h('div', { class: 'reason' }, `+${options.length - shown.length} more`) : null,
    options.length === 0 ? h('span', { class: 'reason' }, 'forced by the model choice') : null
  )
  const out = d.outcome
  const outcome = out
    ? h('div', {}, h('span', { class: `status-${out.status}` }, out.status), ` by `, swatch(out.servedBy), nameOf(out.servedBy),
      h('div', { class: 'reason' }, `${Math.round(out.latencyMs)} ms · ${out.attempts.map(a => `${a.action === 'local' ? 'local' : short(a.action)}:${a.status}`).join(' → ')}`),
      out.status === 'ok' ? feedbackButtons(d.id) : null)
    : h('span', { class: 'reason' }, 'pending')
  const q = d.question.length > 140 ? d.question.slice(0, 137) + '…' : d.question
  return h('tr', { class: 'decision-row', 'data-id': d.id },
    h('td', { class: 'mono' }, clock(d.at)),
    h('td', { class: 'question' }, q),
    h('td', {}, cands),
    h('td', {}, chosen ? h('div', {}, swatch(chosen), chosen === 'local' ? 'local' : nameOf(chosen), h('div', { class: 'reason' }, readable(d.decision.reason.startsWith(d.decision.policy) ? d.decision.reason : `${d.decision.policy}: ${d.decision.reason}`))) : h('span', { class: 'reason' }, 'forced')),
    h('td', {}, outcome)
  )
}

/** Right/wrong buttons: the owner's rating updates the node's observations of whoever answered. */
function feedbackButtons (id) {
  if (state.rated.has(id)) return h('div', { class: 'rated' }, state.rated.get(id) === 1 ? 'rated right' : 'rated wrong')
  const box = h('div', { class: 'feedback' })
  for (const [label, rating] of [['right', 1], ['wrong', 0]]) {
    const button = h('button', { type: 'button', class: `fb fb-${label}`, title: `rate this answer ${label}` }, label)
    button.addEventListener('click', async () => {
      try {
        await api('/api/feedback', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id, rating }) })
        state.rated.set(id, rating)
        box.replaceWith(feedbackButtons(id))
      } catch (err) {
        box.replaceChildren(h('span', { class: 'status-error' }, String(err.message ?? err)))
      }
    })
    box.append(button)
  }
  return box
}

let freshIds = new Set()
function upsertDecision (d, fresh) {
  state.decisions.set(d.id, d)
  if (fresh) freshIds.add(d.id)
}

function renderDecisions () {
  const list = [...state.decisions.values()].sort((a, b) => b.at - a.at).slice(0, MAX_DECISIONS)
  for (const id of [...state.decisions.keys()]) if (!list.some(d => d.id === id)) state.decisions.delete(id)
  $('decision-count').textContent = String(list.length)
  const body = $('decisions-body')
  if (list.length === 0) return
  body.replaceChildren(...list.map(d => {
    const row = decisionRow(d)
    if (freshIds.has(d.id)) row.classList.add('fresh')
    return row
  }))
  freshIds = new Set()
}

// ---------- live feed ----------
function setLive (mode, text) {
  $('live').className = `live ${mode}`
  $('live-text').textContent = text
}

function handleEvent (block) {
  let event = 'message'
  const data = []
  for (const line of block.split('\n')) {
    if (line.startsWith('event:')) event = line.slice(6).trim()
    else if (line.startsWith('data:')) data.push(line.slice(5).trimStart())
  }
  if (data.length === 0) return
  const detail = JSON.parse(data.join('\n'))
  if (event === 'decision' && detail) {
    upsertDecision(detail, true)
    renderDecisions()
  }
}

async function follow () {
  for (;;) {
    try {
      const res = await fetch('/api/events', { headers: headers({ accept: 'text/event-stream' }) })
      if (res.status === 401) $('token-bar').hidden = false
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`)
      setLive('on', 'live')
      const reader = res.body.getReader()
      const decoder = new window.TextDecoder()
      let buf = ''
      for (;;) {
        const { value, done } = await reader.read()
        if (done) break
        buf += decoder.decode(value, { stream: true })
        let i
        while ((i = buf.indexOf('\n\n')) >= 0) {
          handleEvent(buf.slice(0, i))
          buf = buf.slice(i + 2)
        }
      }
    } catch (err) {
      console.warn('event feed', err)
    }
    setLive('off', 'reconnecting')
    await new Promise(resolve => setTimeout(resolve, 2000))
  }
}

// ---------- polling ----------
let tick = 0
async function poll () {
  try {
    const [st, peers] = await Promise.all([api('/api/status'), api('/api/peers')])
    state.status = st
    state.peers = peers.peers
    for (const p of state.peers) if (p.name) state.names.set(p.peerId, p.name)
    renderStatus(st)
    renderPeers(state.peers)
    recordLoads(st, state.peers)
    renderLoads()
    if (tick % 3 === 0) {
      renderMap(await api('/api/map'))
      const { decisions } = await api(`/api/decisions?limit=${MAX_DECISIONS}`)
      for (const d of decisions) upsertDecision(d, false)
      renderDecisions()
      refreshModels()
    }
    tick++
  } catch (err) {
    console.warn('poll', err)
  }
}

async function refreshModels () {
  const { data } = await api('/v1/models')
  const select = $('ask-model')
  const current = select.value
  select.replaceChildren(...data.map(m => h('option', { value: m.id }, m.id === 'ppai' ? 'ppai (route)' : m.id.startsWith('peer:') ? `peer: ${nameOf(m.id.slice(5))}` : m.id)))
  select.value = data.some(m => m.id === current) ? current : 'ppai'
}

// ---------- ask ----------
$('ask-form').addEventListener('submit', async e => {
  e.preventDefault()
  const question = $('ask-input').value.trim()
  if (!question) return
  const out = $('ask-result')
  out.replaceChildren('asking…')
  try {
    const res = await api('/v1/chat/completions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: $('ask-model').value, messages: [{ role: 'user', content: question }] })
    })
    const r = res.ppai
    out.replaceChildren(h('div', { class: 'answer' }, res.choices[0].message.content),
      h('div', {}, 'served by ', swatch(r.servedBy), nameOf(r.servedBy), ` in ${Math.round(r.latencyMs)} ms · answer id ${r.id}`))
    poll()
  } catch (err) {
    out.replaceChildren(h('span', { class: 'status-error' }, String(err.message ?? err)))
  }
})

$('token-save').addEventListener('click', () => {
  storage.setItem('ppai-token', $('token-input').value)
  $('token-bar').hidden = true
  poll()
})

poll()
setInterval(poll, POLL_MS)
follow()
