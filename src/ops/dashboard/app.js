/* global document, window, sessionStorage, fetch, history, location, setTimeout, clearTimeout */
// The Pi dashboard: polls this node's ops API (ring walk, ring-wide events, own node) every two
// seconds and draws the ring as a circle with every node at its id's angle. Plain JavaScript, no
// build step. The ops token comes from the URL fragment (#token=…, never sent to the server) or
// the login form, and is kept in sessionStorage for this tab only.
'use strict';

const REFRESH_MS = 2000;
const TOKEN_KEY = 'pi-ops-token';
const LABEL_LIMIT = 24; // label nodes on the circle only when the ring is small
const LINK_LIMIT = 48; // draw every leaf-set link only when the ring is small
const state = { token: null, selected: null, walk: null, timer: null, failures: 0 };

const $ = (id) => document.getElementById(id);

function esc(value) {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

const short = (id) => (id ? String(id).slice(0, 8) : '');

/** Angle of an id on the ring in radians, 0 at the top, clockwise (first 13 hex digits suffice). */
function angleOf(hex) {
  return (parseInt(String(hex).slice(0, 13), 16) / 2 ** 52) * 2 * Math.PI;
}

function point(hex, r) {
  const a = angleOf(hex);
  return [r * Math.sin(a), -r * Math.cos(a)];
}

function ago(ms) {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  return `${Math.round(s / 3600)}h ago`;
}

async function api(path) {
  const res = await fetch(path, { headers: { authorization: `Bearer ${state.token}` }, cache: 'no-store' });
  if (res.status === 401) {
    const err = new Error('the token was refused');
    err.status = 401;
    throw err;
  }
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body?.error?.message || `HTTP ${res.status}`);
  return body;
}

// ---- token ------------------------------------------------------------------------------------

function readToken() {
  const m = /(?:^|[#&])token=([^&]+)/.exec(location.hash);
  if (m) {
    const token = decodeURIComponent(m[1]);
    sessionStorage.setItem(TOKEN_KEY, token);
    history.replaceState(null, '', location.pathname + location.search); // keep it out of the address bar
    return token;
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

function showLogin(message) {
  $('main').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message || '';
}

$('login-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const token = $('token-input').value.trim();
  if (!token) return;
  sessionStorage.setItem(TOKEN_KEY, token);
  state.token = token;
  $('login').hidden = true;
  refresh();
});

// ---- rendering --------------------------------------------------------------------------------

function renderRing(walk) {
  const svg = $('ring');
  const members = walk.members;
  const R = 200;
  const byId = new Map(members.map((m) => [m.id, m]));
  const parts = [`<circle class="track" r="${R}"></circle>`];
  const small = members.length <= LINK_LIMIT;
  // Leaf-set links: all of them in a small ring, otherwise those of the selected node.
  for (const m of members) {
    if (!small && m.id !== state.selected) continue;
    const from = point(m.id, R);
    for (const l of m.summary?.leafSet ?? []) {
      if (!byId.has(l.id) || (small && l.id < m.id && byId.get(l.id)?.summary?.leafSet?.some((x) => x.id === m.id))) continue;
      const to = point(l.id, R);
      const hot = m.id === state.selected || l.id === state.selected;
      parts.push(`<path class="link${hot ? ' hot' : ''}" d="M${from[0].toFixed(1)},${from[1].toFixed(1)} Q0,0 ${to[0].toFixed(1)},${to[1].toFixed(1)}"></path>`);
    }
  }
  const radius = members.length > 60 ? 5 : members.length > 20 ? 7 : 10;
  for (const m of members) {
    const [x, y] = point(m.id, R);
    const cls = ['node', m.health, m.id === walk.self ? 'self' : '', m.id === state.selected ? 'selected' : ''].join(' ');
    parts.push(
      `<circle class="${cls}" data-testid="ring-node" data-id="${esc(m.id)}" data-health="${esc(m.health)}" cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="${radius}"><title>${esc(short(m.id))} ${esc(m.addr)} — ${esc(m.health)}</title></circle>`,
    );
    if (members.length <= LABEL_LIMIT) {
      const [lx, ly] = point(m.id, R + 22);
      parts.push(`<text x="${lx.toFixed(1)}" y="${ly.toFixed(1)}" text-anchor="middle" dominant-baseline="middle">${esc(short(m.id))}</text>`);
    }
  }
  const live = members.filter((m) => m.health !== 'unreachable').length;
  parts.push(`<text class="center" text-anchor="middle" dominant-baseline="middle">${live} node${live === 1 ? '' : 's'}</text>`);
  svg.innerHTML = parts.join('');
}

$('ring').addEventListener('click', (e) => {
  const id = e.target?.getAttribute?.('data-id');
  state.selected = id && id !== state.selected ? id : null;
  if (state.walk) {
    renderRing(state.walk);
    renderDetails(state.walk);
  }
});

function appPills(apps) {
  return (apps || []).map((a) => `<span class="pill app ${esc(a.state)}" title="${esc(a.kind)} · ${esc(a.state)}">${esc(a.name)}</span>`).join('') || '<span class="muted">–</span>';
}

function renderDetails(walk) {
  const box = $('details');
  const m = walk.members.find((x) => x.id === state.selected);
  if (!m) {
    box.hidden = true;
    return;
  }
  const s = m.summary;
  box.hidden = false;
  box.innerHTML = `<dl>
    <dt>node</dt><dd><code>${esc(m.id)}</code></dd>
    <dt>address</dt><dd>${esc(m.addr)}</dd>
    <dt>health</dt><dd><span class="pill ${esc(m.health)}">${esc(m.health)}</span>${m.rttMs !== undefined ? ` <span class="muted">rtt ${esc(m.rttMs)} ms</span>` : ''}</dd>
    ${s ? `<dt>applications</dt><dd>${appPills(s.apps)}</dd>
    <dt>leaf set</dt><dd>${(s.leafSet || []).map((l) => `<code>${esc(short(l.id))}</code>`).join(' ') || '–'}</dd>
    <dt>routing table</dt><dd>${esc(s.routingTableSize)} entries</dd>
    <dt>started</dt><dd>${esc(ago(Date.now() - s.startedAt))}, version ${esc(s.version)}</dd>
    ${s.region !== undefined ? `<dt>location</dt><dd>region ${esc(s.region)}, az ${esc(s.az)}</dd>` : ''}
    <dt>alerts</dt><dd>${(s.alerts || []).map((a) => `${esc(a.code)}: ${esc(a.message)}`).join('<br>') || 'none'}</dd>
    ${s.opsUrl ? `<dt>dashboard</dt><dd><a href="${esc(s.opsUrl)}/" target="_blank" rel="noopener">${esc(s.opsUrl)}</a> <span class="muted">(same token in a dev ring)</span></dd>` : ''}` : '<dt>state</dt><dd>did not answer the info request</dd>'}
  </dl>`;
}

function renderNodes(walk) {
  const rows = walk.members.map((m) => {
    const s = m.summary;
    return `<tr data-id="${esc(m.id)}"><td><code>${esc(short(m.id))}</code>${m.id === walk.self ? ' <span class="muted">(this)</span>' : ''}</td><td>${esc(m.addr)}</td>
      <td><span class="pill ${esc(m.health)}">${esc(m.health)}</span></td><td class="num">${s ? esc((s.leafSet || []).length) : ''}</td>
      <td>${s ? appPills(s.apps) : ''}</td><td class="num">${s ? esc((s.alerts || []).length) : ''}</td></tr>`;
  });
  $('nodes').tBodies[0].innerHTML = rows.join('');
}

function renderApps(walk) {
  const apps = new Map();
  let answered = 0;
  for (const m of walk.members) {
    if (!m.summary) continue;
    answered++;
    for (const a of m.summary.apps || []) {
      const e = apps.get(a.name) || { name: a.name, kind: a.kind, states: {}, nodes: [] };
      e.states[a.state] = (e.states[a.state] || 0) + 1;
      e.nodes.push(short(m.id));
      apps.set(a.name, e);
    }
  }
  if (apps.size === 0) {
    $('apps').innerHTML = '<p class="muted">no services or applications reported</p>';
    return;
  }
  $('apps').innerHTML = `<table><thead><tr><th>name</th><th>kind</th><th>where</th><th class="num">nodes</th></tr></thead><tbody>${[...apps.values()]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map(
      (a) =>
        `<tr><td>${esc(a.name)}</td><td>${esc(a.kind)}</td><td>${Object.entries(a.states)
          .map(([st, n]) => `${esc(n)} ${esc(st)}`)
          .join(', ')}${a.nodes.length < answered && a.nodes.length <= 8 ? ` <span class="muted">(${a.nodes.map(esc).join(' ')})</span>` : ''}</td><td class="num">${a.nodes.length}/${answered}</td></tr>`,
    )
    .join('')}</tbody></table>`;
}

function renderDht(walk) {
  const totals = new Map();
  let items = 0;
  let dhtNodes = 0;
  for (const m of walk.members) {
    const d = m.summary?.services?.dht;
    if (!d) continue;
    dhtNodes++;
    items += d.items || 0;
    for (const [type, n] of Object.entries(d.rootByType || {})) totals.set(type, (totals.get(type) || 0) + n);
  }
  if (dhtNodes === 0) {
    $('dht').innerHTML = '<p class="muted">no node reports a DHT</p>';
    return;
  }
  const max = Math.max(1, ...totals.values());
  const rows = [...totals.entries()].sort((a, b) => b[1] - a[1]);
  $('dht').innerHTML =
    (rows.length
      ? `<table><thead><tr><th>type</th><th class="num">records</th><th></th></tr></thead><tbody>${rows
          .map(([t, n]) => `<tr><td>${esc(t)}</td><td class="num">${esc(n)}</td><td style="width:40%"><div class="bar" style="width:${((100 * n) / max).toFixed(0)}%"></div></td></tr>`)
          .join('')}</tbody></table>`
      : '<p class="muted">no records yet</p>') + `<p class="muted small">records counted once, at their root; ${esc(items)} stored copies on ${esc(dhtNodes)} nodes</p>`;
}

function mib(bytes) {
  const n = Number(bytes) || 0;
  return n >= 1024 ** 3 ? `${(n / 1024 ** 3).toFixed(1)} GiB` : `${(n / 1024 ** 2).toFixed(1)} MiB`;
}

function renderS3(walk) {
  const rows = [];
  for (const m of walk.members) {
    const s = m.summary?.services?.s3;
    if (!s) continue;
    const d = s.damage || {};
    const damage = d.unrestored ? `<span class="pill critical">${esc(d.unrestored)} lost</span> ` : '';
    const tls = s.tls ? (s.tls.notAfter - Date.now() < 14 * 86400000 ? `<span class="pill degraded">expires ${esc(s.tls.validTo)}</span>` : 'https') : 'http';
    const scrub = s.scrub?.running ? 'running' : s.scrub?.lastPassFinishedAt ? ago(Date.now() - s.scrub.lastPassFinishedAt) : 'not yet';
    rows.push(
      `<tr><td><code>${esc(short(m.id))}</code></td><td>${esc(s.endpoint)}</td><td>${tls}</td><td class="num">${esc(s.chunks)}</td><td class="num">${esc(mib(s.chunkBytes))}</td><td class="num">${esc(s.activeRequests)}</td><td>${damage}${esc(d.corrupt || 0)} found, ${esc(d.restored || 0)} restored</td><td>${esc(scrub)}</td></tr>`,
    );
  }
  $('s3').innerHTML = rows.length
    ? `<table data-testid="s3"><thead><tr><th>node</th><th>endpoint</th><th>tls</th><th class="num">chunks</th><th class="num">data</th><th class="num">requests</th><th>damaged copies</th><th>last scrub</th></tr></thead><tbody>${rows.join('')}</tbody></table>`
    : '<p class="muted">the s3 application is not running on this ring</p>';
}

function renderTopics(walk) {
  const topics = new Map();
  let scribe = false;
  for (const m of walk.members) {
    const s = m.summary?.services?.scribe;
    if (!s) continue;
    scribe = true;
    for (const t of s.topics || []) {
      const key = t.uri || t.id;
      const e = topics.get(key) || { uri: t.uri || t.id, subscribers: 0, nodes: 0, root: '' };
      e.nodes++;
      e.subscribers += t.clients || 0;
      if (t.root) e.root = short(m.id);
      topics.set(key, e);
    }
  }
  if (!scribe) {
    $('topics').innerHTML = '<p class="muted">Scribe (pub/sub) is not running on this ring</p>';
    return;
  }
  $('topics').innerHTML = topics.size
    ? `<table><thead><tr><th>topic</th><th class="num">subscribers</th><th class="num">tree nodes</th><th>root</th></tr></thead><tbody>${[...topics.values()]
        .sort((a, b) => String(a.uri).localeCompare(String(b.uri)))
        .map((t) => `<tr><td>${esc(t.uri)}</td><td class="num">${esc(t.subscribers)}</td><td class="num">${esc(t.nodes)}</td><td><code>${esc(t.root)}</code></td></tr>`)
        .join('')}</tbody></table>`
    : '<p class="muted">no topics</p>';
}

function renderQueues(walk) {
  const queues = new Map();
  let provider = false;
  for (const m of walk.members) {
    for (const summary of Object.values(m.summary?.services || {})) {
      if (!Array.isArray(summary?.queues)) continue;
      provider = true;
      for (const q of summary.queues) {
        // Every node that registered a queue reports the same partition: keep the latest answer.
        const e = queues.get(q.name) || { name: q.name, depth: 0, stale: 0, capped: false, nodes: 0 };
        e.depth = Math.max(e.depth, q.depth || 0);
        e.stale = Math.max(e.stale, q.stale || 0);
        e.capped = e.capped || Boolean(q.depthCapped);
        e.nodes++;
        queues.set(q.name, e);
      }
    }
  }
  if (!provider) {
    $('queues').innerHTML = '<p class="muted">no node runs the application host</p>';
    return;
  }
  $('queues').innerHTML = queues.size
    ? `<table><thead><tr><th>queue</th><th class="num">tasks</th><th class="num">stale</th><th class="num">nodes</th></tr></thead><tbody>${[...queues.values()]
        .map((q) => `<tr><td>${esc(q.name)}</td><td class="num">${esc(q.depth)}${q.capped ? '+' : ''}</td><td class="num">${esc(q.stale)}</td><td class="num">${esc(q.nodes)}</td></tr>`)
        .join('')}</tbody></table>`
    : '<p class="muted">no task queues registered</p>';
}

function renderAlerts(walk) {
  const rows = [];
  for (const m of walk.members) {
    if (m.health === 'unreachable') rows.push({ node: m.id, severity: 'critical', code: 'Unreachable', message: `${m.addr} did not answer` });
    for (const a of m.summary?.alerts || []) rows.push({ node: m.id, ...a });
  }
  $('alert-count').textContent = String(rows.length);
  $('alerts').innerHTML = rows.length
    ? `<table><thead><tr><th>node</th><th>severity</th><th>alert</th></tr></thead><tbody>${rows
        .map((a) => `<tr><td><code>${esc(short(a.node))}</code></td><td><span class="pill ${a.severity === 'critical' ? 'critical' : 'degraded'}">${esc(a.severity)}</span></td><td><b>${esc(a.code)}</b> ${esc(a.message)}</td></tr>`)
        .join('')}</tbody></table>`
    : '<p class="muted">no active alerts</p>';
}

function renderEvents(events) {
  $('events').innerHTML =
    events
      .map(
        (e) =>
          `<li class="${esc(e.level)}" data-type="${esc(e.type)}"><span class="time" title="${esc(new Date(e.time).toISOString())}">${esc(new Date(e.time).toLocaleTimeString())}</span><span class="node">${esc(short(e.node))}</span><span class="type">${esc(e.type)}</span><span class="msg">${esc(e.message)}</span></li>`,
      )
      .join('') || '<li class="muted">no events yet</li>';
}

function renderSelf(node) {
  const lag = node.eventLoop || {};
  const disk = node.disk;
  $('self-id').textContent = short(node.id);
  $('self').innerHTML = `<dl>
    <dt>node</dt><dd><code>${esc(node.id)}</code></dd>
    <dt>address</dt><dd>${esc(node.addr)} ${node.secure ? '<span class="muted">mutual TLS</span>' : '<b class="error">INSECURE (plaintext)</b>'}</dd>
    <dt>state</dt><dd>${esc(node.state)} · <span class="pill ${esc(node.health)}">${esc(node.health)}</span></dd>
    <dt>uptime</dt><dd>${esc(ago(node.uptimeMs).replace(' ago', ''))}, version ${esc(node.version)}, pid ${esc(node.pid)}</dd>
    <dt>event loop</dt><dd>p99 ${esc((lag.p99Ms ?? 0).toFixed(1))} ms, max ${esc((lag.maxMs ?? 0).toFixed(1))} ms</dd>
    <dt>memory</dt><dd>${esc((node.memoryRssBytes / 2 ** 20).toFixed(0))} MiB</dd>
    ${disk ? `<dt>disk</dt><dd>${esc((disk.freeBytes / 2 ** 30).toFixed(1))} GiB free of ${esc((disk.totalBytes / 2 ** 30).toFixed(1))} GiB</dd>` : ''}
    <dt>transport</dt><dd>${esc(node.transport?.connections)} connections, ${esc(node.transport?.stats?.messagesIn)} in / ${esc(node.transport?.stats?.messagesOut)} out, ${esc(node.transport?.stats?.rejected)} refused</dd>
  </dl>`;
}

// ---- refresh loop -----------------------------------------------------------------------------

async function refresh() {
  clearTimeout(state.timer);
  try {
    const [ring, events, node] = await Promise.all([api('/api/ring?walk=true'), api('/api/events?scope=ring&limit=150'), api('/api/node')]);
    const walk = ring.walk;
    state.walk = walk;
    state.failures = 0;
    $('main').hidden = false;
    $('banner').hidden = true;
    const live = walk.members.filter((m) => m.health !== 'unreachable').length;
    $('node-count').textContent = String(live);
    $('unreachable-count').textContent = String(walk.members.length - live);
    $('unreachable-wrap').hidden = walk.members.length === live;
    $('ring-note').textContent = `walked ${walk.members.length} node${walk.members.length === 1 ? '' : 's'} in ${walk.durationMs} ms${walk.truncated ? ' (truncated)' : ''}`;
    renderRing(walk);
    renderDetails(walk);
    renderNodes(walk);
    renderApps(walk);
    renderDht(walk);
    renderS3(walk);
    renderTopics(walk);
    renderQueues(walk);
    renderAlerts(walk);
    renderEvents(events.events);
    renderSelf(node);
    $('updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (err) {
    if (err.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      showLogin('The token was refused.');
      return;
    }
    state.failures++;
    $('banner').hidden = false;
    $('banner').textContent = `Cannot reach the node's ops API (${err.message}); retrying…`;
  }
  state.timer = setTimeout(refresh, REFRESH_MS);
}

state.token = readToken();
if (state.token) refresh();
else showLogin();
window.piDashboard = state; // for debugging in the console
