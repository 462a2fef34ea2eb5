/**
 * Small line charts as standalone SVG: axes with ticks, one polyline per
 * series, a legend. Enough for the report; no dependency.
 */

/** One named line of points `[x, y]`. */
export interface Series {
  name: string
  points: Array<[number, number]>
}

export interface LineChartInit {
  title: string
  xLabel: string
  yLabel: string
  series: Series[]
  width?: number
  height?: number
  /** Fixed y range; otherwise from the data (starting at 0 when all are positive). */
  yMin?: number
  yMax?: number
  /** Draw the points as markers as well. */
  markers?: boolean
}

const PALETTE = ['#d62728', '#1f77b4', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#17becf', '#7f7f7f']

function esc (s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

/** "Nice" tick values covering [lo, hi]. */
export function ticks (lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo]
  const raw = (hi - lo) / count
  const mag = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 2.5, 5, 10].map(m => m * mag).find(s => s >= raw) ?? raw
  const out: number[] = []
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)))
  return out
}

function fmt (v: number): string {
  const a = Math.abs(v)
  if (a >= 10_000) return `${(v / 1000).toFixed(0)}k`
  if (a >= 1000) return `${(v / 1000).toFixed(1)}k`
  if (a >= 10 || v === 0) return v.toFixed(0)
  if (a >= 1) return v.toFixed(1)
  return v.toFixed(2)
}

/** A line chart as an SVG document. */
export function lineChart (init: LineChartInit): string {
  const width = init.width ?? 640
  const height = init.height ?? 380
  const m = { left: 64, right: 150, top: 36, bottom: 48 }
  const pw = width - m.left - m.right
  const ph = height - m.top - m.bottom
  const all = init.series.flatMap(s => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y))
  const xs = all.map(p => p[0])
  const ys = all.map(p => p[1])
  let xMin = xs.length > 0 ? Math.min(...xs) : 0
  let xMax = xs.length > 0 ? Math.max(...xs) : 1
  if (xMax === xMin) { xMin -= 0.5; xMax += 0.5 }
  let yMin = init.yMin ?? Math.min(0, ...(ys.length > 0 ? ys : [0]))
  let yMax = init.yMax ?? (ys.length > 0 ? Math.max(...ys) : 1)
  if (yMax === yMin) { yMax = yMin + 1 }
  const yTicks = ticks(yMin, yMax)
  yMin = Math.min(yMin, yTicks[0])
  yMax = Math.max(yMax, yTicks[yTicks.length - 1])
  const sx = (x: number): number => m.left + (x - xMin) / (xMax - xMin) * pw
  const sy = (y: number): number => m.top + ph - (y - yMin) / (yMax - yMin) * ph
  const parts: string[] = []
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`)
  parts.push(`<rect width="${width}" height="${height}" fill="white"/>`)
  parts.push(`<text x="${m.left + pw / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${esc(init.title)}</text>`)
  for (const t of yTicks) {
    parts.push(`<line x1="${m.left}" x2="${m.left + pw}" y1="${sy(t).toFixed(1)}" y2="${sy(t).toFixed(1)}" stroke="#e5e5e5"/>`)
    parts.push(`<text x="${m.left - 6}" y="${(sy(t) + 4).toFixed(1)}" text-anchor="end">${fmt(t)}</text>`)
  }
  for (const t of ticks(xMin, xMax)) {
    parts.push(`<line x1="${sx(t).toFixed(1)}" x2="${sx(t).toFixed(1)}" y1="${m.top + ph}" y2="${m.top + ph + 4}" stroke="#333"/>`)
    parts.push(`<text x="${sx(t).toFixed(1)}" y="${m.top + ph + 18}" text-anchor="middle">${fmt(t)}</text>`)
  }
  parts.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`)
  parts.push(`<text x="${m.left + pw / 2}" y="${height - 10}" text-anchor="middle">${esc(init.xLabel)}</text>`)
  parts.push(`<text transform="translate(16 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(init.yLabel)}</text>`)
  init.series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length]
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y))
    if (pts.length > 0) {
      parts.push(`<polyline fill="none" stroke="${color}" stroke-width="${s.name === 'ppai' ? 2.5 : 1.5}" points="${pts.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ')}"/>`)
      if (init.markers === true) for (const [x, y] of pts) parts.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="3" fill="${color}"/>`)
    }
    const ly = m.top + 10 + i * 18
    parts.push(`<line x1="${m.left + pw + 12}" x2="${m.left + pw + 34}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2.5"/>`)
    parts.push(`<text x="${m.left + pw + 40}" y="${ly + 4}">${esc(s.name)}</text>`)
  })
  parts.push('</svg>')
  return parts.join('\n') + '\n'
}
