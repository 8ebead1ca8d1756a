// The dashboard's HTML, rendered on the server from a stats snapshot: readable without JavaScript; the script only refreshes it and draws charts.
import { maxUpstreamsTracked, type NamedUpstreamFigures, type ProtocolFigures, type StatsSnapshot } from './metrics-collector.ts';

const escape = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${n} B` : `${value.toFixed(value >= 100 ? 0 : 1)} ${units[unit]}`;
}

function ago(at: number | undefined, now: number): string {
  if (at === undefined) return '—';
  const s = Math.max(0, Math.round((now - at) / 1000));
  return s < 60 ? `${s}s ago` : s < 3600 ? `${Math.round(s / 60)}m ago` : `${Math.round(s / 3600)}h ago`;
}

/** A number the page shows, with its exact value in data-value so tests (and scripts) need not parse the text. */
function stat(name: string, value: number, text = String(value)): string {
  return `<span data-stat="${escape(name)}" data-value="${value}">${escape(text)}</span>`;
}

/**
 * The page runs only hoard's own files: no inline script, style or handler (styles live in
 * assets/dashboard.css, the bars are <progress> elements), nothing from elsewhere, no framing (its
 * buttons run admin actions), forms post only here. Scripts may still set styles through the DOM, as uPlot does.
 */
export const dashboardCsp = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

const requestResults = ['hit', 'miss', 'revalidated', 'stale', 'coalesced', 'passthrough', 'not-found', 'refused', 'error'];

function forgottenNote(s: StatsSnapshot): string {
  if (s.upstreamCounts.forgotten === 0) return '';
  const n = stat('upstreamCounts.forgotten', s.upstreamCounts.forgotten);
  const kept = `the list keeps the configured upstreams and ${maxUpstreamsTracked} others`;
  return `<p class="muted">${n} more hosts were contacted and are no longer listed (${kept}).</p>`;
}

function diskCard(s: StatsSnapshot, diskShare: number | undefined): string {
  const cap = s.store.maxBytes === undefined ? 'no cap set' : `of ${stat('store.maxBytes', s.store.maxBytes, formatBytes(s.store.maxBytes))} cap`;
  const share = diskShare?.toFixed(1);
  const bar = share === undefined ? '' : `<progress class="bar" max="100" value="${share}" title="${share}%">${share}%</progress>`;
  return (
    `<div class="card"><div class="label">Disk use</div><div class="big">${stat('store.bytes', s.store.bytes, formatBytes(s.store.bytes))}</div>` +
    `<div class="sub">${cap} · ${stat('store.objects', s.store.objects)} objects</div>${bar}` +
    `${s.store.full ? `<div class="bad">disk full: passing through uncached</div>` : ''}</div>`
  );
}

function protocolRow(name: string, f: ProtocolFigures): string {
  const ratio = f.hitRatio === undefined ? '—' : `${(f.hitRatio * 100).toFixed(1)}%`;
  return (
    `<tr data-protocol="${escape(name)}"><td>${escape(name)}</td><td class="num">${stat(`protocols.${name}.requests`, f.requests)}</td>` +
    `<td class="num">${ratio}</td><td class="num">${stat(`protocols.${name}.servedFromCache`, f.servedFromCache, formatBytes(f.servedFromCache))}</td>` +
    `<td class="num">${formatBytes(f.servedFromUpstream)}</td></tr>`
  );
}

/** A named upstream's row (an image stream, an apt backend, an OCI registry): requests, hits, what it did not have to send again, its errors. */
function namedUpstreamRow(u: NamedUpstreamFigures): string {
  const key = `namedUpstreams.${u.upstream}`;
  const ratio = u.hitRatio === undefined ? '—' : `${(u.hitRatio * 100).toFixed(1)}%`;
  return (
    `<tr data-named-upstream="${escape(u.upstream)}"><td class="key">${escape(u.upstream)}</td><td class="num">${stat(`${key}.requests`, u.requests)}</td>` +
    `<td class="num">${stat(`${key}.hits`, u.hits)}</td><td class="num">${ratio}</td>` +
    `<td class="num">${stat(`${key}.servedFromCache`, u.servedFromCache, formatBytes(u.servedFromCache))}</td>` +
    `<td class="num">${formatBytes(u.servedFromUpstream)}</td>` +
    `<td class="num">${stat(`${key}.saved`, u.saved, formatBytes(u.saved))}</td><td class="num">${stat(`${key}.downloadsInFlight`, u.downloadsInFlight)}</td>` +
    `<td class="num${u.errors > 0 ? ' bad' : ''}">${stat(`${key}.errors`, u.errors)}</td></tr>`
  );
}

function downloadRow(d: StatsSnapshot['downloads']['inFlight'][number], share: number | undefined): string {
  const relaying = d.relaying ? ' <span class="warn">(pass-through)</span>' : '';
  const bar =
    share === undefined ? '<progress class="bar"></progress>' : `<progress class="bar" max="100" value="${share.toFixed(1)}">${share.toFixed(1)}%</progress>`;
  const size = `${formatBytes(d.written)}${d.expected === undefined ? '' : ` / ${formatBytes(d.expected)}`}`;
  return `<tr data-download="${escape(d.key)}"><td class="key">${escape(d.key)}${relaying}${bar}</td><td class="num">${size}</td></tr>`;
}

export interface DashboardOptions {
  prefix: string;
  version: string;
  actionsEnabled: boolean;
}

export function dashboardPage(s: StatsSnapshot, o: DashboardOptions): string {
  const total = Object.values(s.requests).reduce((a, b) => a + b, 0);
  const ratio = s.hitRatio === undefined ? '—' : `${(s.hitRatio * 100).toFixed(1)}%`;
  const diskShare = s.store.maxBytes ? Math.min(100, (s.store.bytes / s.store.maxBytes) * 100) : undefined;
  const results = [...new Set([...requestResults, ...Object.keys(s.requests)])];
  const uptime = Math.round((s.at - s.startedAt) / 1000);
  const p = escape(o.prefix);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>hoard — apt cache</title>
<link rel="stylesheet" href="${p}/assets/uPlot.min.css">
<link rel="stylesheet" href="${p}/assets/dashboard.css">
</head>
<body>
<header><h1>hoard</h1><span class="muted">apt cache · v${escape(o.version)} · up ${stat('uptimeSeconds', uptime, `${uptime}s`)} · <a href="${p}/metrics">metrics</a> · <a href="${p}/health">health</a> · <a href="${p}/stats.json">stats.json</a></span></header>
<main id="live">
<div class="cards">
  <div class="card"><div class="label">Hit ratio</div><div class="big">${stat('hitRatio', s.hitRatio ?? 0, ratio)}</div><div class="sub">${stat('requests.total', total)} requests</div></div>
  <div class="card"><div class="label">Served from cache</div><div class="big">${stat('bytes.servedFromCache', s.bytes.servedFromCache, formatBytes(s.bytes.servedFromCache))}</div><div class="sub">${stat('bytes.servedFromUpstream', s.bytes.servedFromUpstream, formatBytes(s.bytes.servedFromUpstream))} streamed to clients during downloads</div></div>
  <div class="card"><div class="label">Fetched upstream</div><div class="big">${stat('bytes.fetchedUpstream', s.bytes.fetchedUpstream, formatBytes(s.bytes.fetchedUpstream))}</div><div class="sub">${stat('downloads.completed', s.downloads.completed)} downloads, ${stat('downloads.failed', s.downloads.failed)} failed</div></div>
  <div class="card"><div class="label">Bandwidth saved</div><div class="big">${stat('bytes.saved', s.bytes.saved, formatBytes(s.bytes.saved))}</div><div class="sub">served minus fetched</div></div>
  ${diskCard(s, diskShare)}
  <div class="card"><div class="label">Verification failures</div><div class="big ${s.verificationFailures.total > 0 ? 'bad' : ''}">${stat('verificationFailures.total', s.verificationFailures.total)}</div><div class="sub">${stat('evictions.total', s.evictions.total)} evictions (${formatBytes(s.evictions.bytes)})</div></div>
</div>
<section><h2>Requests</h2><table><tr><th>result</th><th class="num">count</th></tr>
${results.map((r) => `<tr><td>${escape(r)}</td><td class="num">${stat(`requests.${r}`, s.requests[r] ?? 0)}</td></tr>`).join('\n')}
</table></section>
<section><h2>Protocols</h2>${
    Object.keys(s.protocols).length === 0
      ? '<p class="empty">no request yet</p>'
      : `<table><tr><th>protocol</th><th class="num">requests</th><th class="num">hit ratio</th><th class="num">from cache</th><th class="num">from upstream</th></tr>${Object.entries(
          s.protocols,
        )
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([name, f]) => protocolRow(name, f))
          .join('')}</table>`
  }</section>
<section><h2>Named upstreams</h2>${
    s.namedUpstreams.length === 0
      ? '<p class="empty">none configured</p>'
      : `<table><tr><th>upstream</th><th class="num">requests</th><th class="num">hits</th><th class="num">hit ratio</th><th class="num">from cache</th><th class="num">from upstream</th><th class="num">saved</th><th class="num">downloading</th><th class="num">upstream errors</th></tr>${s.namedUpstreams
          .map(namedUpstreamRow)
          .join('')}</table>`
  }</section>
<section><h2>Downloads in progress</h2>${
    s.downloads.inFlight.length === 0
      ? '<p class="empty">none</p>'
      : `<table><tr><th>object</th><th class="num">progress</th></tr>${s.downloads.inFlight
          .map((d) => {
            const share = d.expected ? Math.min(100, (d.written / d.expected) * 100) : undefined;
            return downloadRow(d, share);
          })
          .join('')}</table>`
  }</section>
<section class="wide"><h2>Requests over time</h2><div id="chart-requests" class="chart"><p class="muted">Charts need JavaScript; the numbers above do not.</p></div></section>
<section class="wide"><h2>Bytes over time</h2><div id="chart-bytes" class="chart"></div></section>
<section><h2>Upstreams</h2>${
    s.upstreams.length === 0
      ? '<p class="empty">no upstream contacted yet</p>'
      : `<table><tr><th>upstream</th><th>state</th><th class="num">requests</th><th class="num">failures</th><th>last error</th></tr>${s.upstreams
          .map(
            (u) =>
              `<tr><td class="key">${escape(u.upstream)}</td><td class="${u.state === 'ok' ? 'ok' : 'bad'}" data-upstream-state="${escape(u.upstream)}">${u.state}</td><td class="num">${u.requests}</td><td class="num">${u.failures}</td><td>${u.lastError === undefined ? '—' : `${escape(u.lastError)} <span class="muted">(${ago(u.lastErrorAt, s.at)})</span>`}</td></tr>`,
          )
          .join('')}</table>`
  }${forgottenNote(s)}</section>
<section><h2>Top packages</h2>${
    s.topPackages.length === 0
      ? '<p class="empty">no package requested yet</p>'
      : `<table><tr><th>package file</th><th>protocol</th><th class="num">requests</th><th class="num">bytes</th></tr>${s.topPackages
          .map(
            (t) =>
              `<tr><td class="key">${escape(t.name)}</td><td>${escape(t.protocol)}</td><td class="num">${t.requests}</td><td class="num">${formatBytes(t.bytes)}</td></tr>`,
          )
          .join('')}</table>`
  }</section>
<section><h2>Verification failures</h2>${
    s.verificationFailures.recent.length === 0
      ? '<p class="empty">none</p>'
      : `<table><tr><th>file</th><th>failure</th><th>detail</th></tr>${s.verificationFailures.recent
          .map(
            (v) =>
              `<tr><td class="key">${escape(v.upstream + v.path)}</td><td class="bad">${escape(v.failure)}</td><td>${escape(v.detail)} <span class="muted">(${ago(v.at, s.at)})</span></td></tr>`,
          )
          .join('')}</table>`
  }</section>
</main>
<main>
<section class="wide"><h2>Admin actions</h2>${
    o.actionsEnabled
      ? `<form id="token-form"><label>Token <input type="password" id="token" autocomplete="off" placeholder="admin.token from the config"></label></form>
<form method="post" action="${p}/actions/gc" data-action="gc"><button type="submit">Run clean-up</button><label><input type="checkbox" name="dryRun" checked> dry run (list only)</label></form>
<form method="post" action="${p}/actions/evict" data-action="evict"><input type="text" name="target" placeholder="cache key (http://host/path) or sha256 digest" required><button type="submit">Evict object</button></form>
<pre id="action-result" hidden></pre>`
      : '<p class="muted">Set <code>admin.token</code> in the configuration to enable clean-up and eviction from here.</p>'
  }</section>
</main>
<script src="${p}/assets/uPlot.iife.min.js"></script>
<script src="${p}/assets/dashboard.js" data-prefix="${p}"></script>
</body>
</html>
`;
}
