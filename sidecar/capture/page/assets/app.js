// faultline capture browser: the list of captured failing requests, one
// capture in full, live updates. Plain modules, no dependencies, nothing
// loaded from elsewhere.
//
// The one rule: captured data reaches the DOM only as text. Elements are
// built with h() (dom.js), which appends strings as Text nodes and sets only
// attributes that run nothing; nothing here parses HTML. The
// Content-Security-Policy (no inline script, Trusted Types with no policy)
// makes every HTML-parsing sink throw, so a mistake fails closed.
import {
  $, h, ID_RE, CODE_RE, statusBadge, timeEl, fmtDur, idBefore, durationMs,
} from './dom.js';
import { renderCapture, titleBar } from './capture.js';

const PAGE = 200;          // rows per page without a text search
const SCAN_PAGE = 1000;    // summaries per request while searching paths
const SCAN_BUDGET = 20000; // summaries scanned per "search older" step
const MAX_ROWS = 5000;     // rows kept in the DOM; live updates trim the oldest

// ---- the admin token and API calls ----

const TOKEN_KEY = 'faultline.adminToken';
let token = '';
try { token = sessionStorage.getItem(TOKEN_KEY) || ''; } catch { /* storage off: ask each load */ }
let tokenPrompt = null;

function setToken(v) {
  token = v;
  try {
    if (v) sessionStorage.setItem(TOKEN_KEY, v);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch { /* kept in memory only */ }
  $('#forget-token').hidden = !token;
}

// askToken shows the token dialog once, however many requests wait.
function askToken(rejected) {
  if (tokenPrompt) return tokenPrompt;
  tokenPrompt = new Promise((resolve) => {
    const dlg = $('#token-dialog');
    const input = $('#token-input');
    $('#token-why').textContent = rejected
      ? 'That token was not accepted. Enter the sidecar\'s --admin-token.'
      : 'This sidecar\'s admin API needs its token (--admin-token).';
    input.value = '';
    const form = $('#token-form');
    const submit = (ev) => {
      ev.preventDefault();
      const v = input.value.trim();
      if (!v) { input.focus(); return; }
      form.removeEventListener('submit', submit);
      setToken(v);
      dlg.close();
      tokenPrompt = null;
      resolve();
    };
    form.addEventListener('submit', submit);
    if (!dlg.open) dlg.showModal();
    input.focus();
  });
  return tokenPrompt;
}

class APIError extends Error {
  constructor(status, msg) { super(msg); this.status = status; }
}

async function api(path, kind = 'json', signal) {
  for (;;) {
    const headers = {};
    if (token) headers.Authorization = 'Bearer ' + token;
    const resp = await fetch(path, { headers, cache: 'no-store', credentials: 'omit', redirect: 'error', signal });
    if (resp.status === 401) {
      const had = token !== '';
      setToken('');
      await askToken(had);
      continue;
    }
    if (!resp.ok) {
      let msg = '';
      try { msg = (await resp.json()).error || ''; } catch { /* not JSON */ }
      throw new APIError(resp.status, msg || 'HTTP ' + resp.status);
    }
    if (kind === 'text') return resp.text();
    if (kind === 'blob') return resp.blob();
    return resp.json();
  }
}

// ---- filters and the address bar ----

const F = { code: '', route: '', q: '', since: '', until: '' };
const PRESETS = ['15m', '1h', '6h', '24h', '7d'];
let openId = '';

function readURL() {
  const p = new URLSearchParams(location.search);
  for (const k of Object.keys(F)) F[k] = (p.get(k) || '').trim();
  const id = p.get('capture') || '';
  openId = ID_RE.test(id) ? id : '';
}

function urlFor(filters, id) {
  const enc = (v) => encodeURIComponent(v).replace(/%2F/gi, '/').replace(/%3A/gi, ':');
  const parts = [];
  for (const k of Object.keys(F)) if (filters[k]) parts.push(k + '=' + enc(filters[k]));
  if (id) parts.push('capture=' + id);
  return location.pathname + (parts.length ? '?' + parts.join('&') : '');
}

function writeURL(mode) {
  const url = urlFor(F, openId);
  if (url === location.pathname + location.search) return;
  if (mode === 'push') history.pushState(null, '', url);
  else history.replaceState(null, '', url);
}

const form = $('#filters');
const codeIn = $('#f-code'), routeIn = $('#f-route'), qIn = $('#f-q');
const rangeIn = $('#f-range'), sinceIn = $('#f-since'), untilIn = $('#f-until');

function toLocalInput(ms) {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60e3);
  return d.toISOString().slice(0, 19);
}

function fromLocalInput(v) {
  if (!v) return '';
  const d = new Date(v);
  return isNaN(d) ? '' : d.toISOString().replace('.000Z', 'Z');
}

function fToForm() {
  codeIn.value = F.code;
  routeIn.value = F.route;
  qIn.value = F.q;
  const custom = F.until !== '' || (F.since !== '' && !PRESETS.includes(F.since));
  if (F.since && !F.until && !PRESETS.includes(F.since) && isFinite(durationMs(F.since))) {
    // A relative since from a link, e.g. 2h: offer it as it is.
    if (![...rangeIn.options].some((o) => o.value === F.since)) {
      rangeIn.insertBefore(h('option', { value: F.since }, 'Last ' + F.since), rangeIn.querySelector('option[value=custom]'));
    }
    rangeIn.value = F.since;
  } else if (custom) {
    rangeIn.value = 'custom';
    const s = Date.parse(F.since), u = Date.parse(F.until);
    sinceIn.value = isFinite(s) ? toLocalInput(s) : '';
    untilIn.value = isFinite(u) ? toLocalInput(u) : '';
  } else {
    rangeIn.value = F.since;
  }
  $('#custom-range').hidden = rangeIn.value !== 'custom';
  checkCode();
  markChips();
}

function formToF() {
  F.code = codeIn.value.trim();
  F.route = routeIn.value.trim();
  F.q = qIn.value.trim();
  if (rangeIn.value === 'custom') {
    F.since = fromLocalInput(sinceIn.value);
    F.until = fromLocalInput(untilIn.value);
  } else {
    F.since = rangeIn.value;
    F.until = '';
  }
  $('#custom-range').hidden = rangeIn.value !== 'custom';
}

function checkCode() {
  const ok = F.code === '' || CODE_RE.test(F.code);
  codeIn.setAttribute('aria-invalid', ok ? 'false' : 'true');
  $('#f-code-err').textContent = ok ? '' : 'A code (422) or class (4xx)';
  return ok;
}

function markChips() {
  for (const b of form.querySelectorAll('.chip')) {
    b.setAttribute('aria-pressed', String(b.dataset.code.toLowerCase() === F.code.toLowerCase()));
  }
}

let filterTimer = 0;
function filtersChanged(delay) {
  clearTimeout(filterTimer);
  filterTimer = setTimeout(() => {
    formToF();
    markChips();
    if (!checkCode()) return;
    writeURL('replace');
    reload();
  }, delay);
}

// apiParams are the filters the API applies; the path search is ours.
function apiParams() {
  const p = new URLSearchParams();
  if (F.code) p.set('code', F.code);
  if (F.route) p.set('route', F.route);
  if (F.since) p.set('since', F.since);
  return p;
}

function codeRange() {
  if (!F.code) return null;
  const c = F.code.toLowerCase();
  if (c.endsWith('xx')) { const lo = +c[0] * 100; return [lo, lo + 99]; }
  return [+c, +c];
}

function sinceMs() {
  if (!F.since) return NaN;
  const t = Date.parse(F.since);
  if (isFinite(t) && /\d{4}-\d\d-\d\dT/.test(F.since)) return t;
  return Date.now() - durationMs(F.since);
}

// matches applies every filter to a summary, for live updates and the
// path search.
function matches(s) {
  const r = codeRange();
  if (r && (s.status < r[0] || s.status > r[1])) return false;
  if (F.route && s.route !== F.route) return false;
  if (F.q && !String(s.path).toLowerCase().includes(F.q.toLowerCase())) return false;
  const since = sinceMs();
  if (isFinite(since) && Date.parse(s.time) < since) return false;
  if (F.until) {
    const u = Date.parse(F.until);
    if (isFinite(u) && !(s.id < idBefore(u))) return false;
  }
  return true;
}

// ---- the list ----

const tbody = $('#list tbody');
const scroller = $('#list-scroll');
const rowOf = new WeakMap();
const L = {
  gen: 0, rows: [], ids: new Set(), cursor: '', done: true, scanned: 0,
  loading: false, ctrl: null, active: null, routes: new Set(), error: '',
};

function learnRoute(r) {
  if (!r || L.routes.has(r) || L.routes.size >= 500) return;
  L.routes.add(r);
  const list = $('#routes');
  const opts = [...L.routes].sort();
  list.replaceChildren(...opts.map((v) => h('option', { value: v })));
}

function rowEl(s) {
  const tr = h('tr', { tabindex: '-1' },
    h('td', { class: 'c-time' }, timeEl(s.time)),
    h('td', { class: 'c-status' }, statusBadge(s.status, true)),
    h('td', { class: 'c-method' }, s.method),
    h('td', { class: 'c-route', title: s.route }, s.route || h('span', { class: 'muted' }, '(none)')),
    h('td', { class: 'c-path', title: s.path }, s.path),
    h('td', { class: 'c-dur num' }, fmtDur(s.duration_ms)),
    h('td', { class: 'c-trace' }, s.trace_id ? h('span', { title: s.trace_id }, s.trace_id.slice(0, 8)) : h('span', { class: 'muted' }, '—')));
  rowOf.set(tr, s);
  if (s.id === openId) tr.setAttribute('aria-current', 'true');
  return tr;
}

function setActive(tr, focus) {
  if (L.active && L.active !== tr) L.active.tabIndex = -1;
  L.active = tr;
  if (!tr) return;
  tr.tabIndex = 0;
  if (focus) {
    tr.focus({ preventScroll: true });
    tr.scrollIntoView({ block: 'nearest' });
  }
}

async function reload() {
  if (L.ctrl) L.ctrl.abort();
  L.ctrl = new AbortController();
  L.gen++;
  L.rows = [];
  L.ids.clear();
  L.scanned = 0;
  L.error = '';
  L.done = false;
  L.active = null;
  L.cursor = '';
  if (F.until) {
    const u = Date.parse(F.until);
    if (isFinite(u)) L.cursor = idBefore(u);
  }
  tbody.replaceChildren();
  hideBanner();
  await loadMore();
}

async function loadMore() {
  if (L.loading || L.done) return;
  const gen = L.gen, signal = L.ctrl.signal;
  L.loading = true;
  renderInfo();
  let added = 0, scanned = 0;
  try {
    while (!L.done && added < PAGE && scanned < (F.q ? SCAN_BUDGET : PAGE)) {
      const p = apiParams();
      p.set('limit', String(F.q ? SCAN_PAGE : PAGE));
      if (L.cursor) p.set('before', L.cursor);
      const data = await api('/api/captures?' + p, 'json', signal);
      if (gen !== L.gen) return;
      const caps = data.captures || [];
      scanned += caps.length;
      L.scanned += caps.length;
      const frag = document.createDocumentFragment();
      for (const s of caps) {
        learnRoute(s.route);
        if (L.ids.has(s.id) || !matches(s)) continue;
        L.ids.add(s.id);
        L.rows.push(s);
        frag.append(rowEl(s));
        added++;
      }
      tbody.append(frag);
      if (!L.active && tbody.firstElementChild) setActive(tbody.firstElementChild, false);
      if (data.next) L.cursor = data.next;
      else L.done = true;
    }
  } catch (e) {
    if (e.name === 'AbortError' || gen !== L.gen) return;
    L.error = e.message;
    showBanner('Could not load captures: ' + e.message, 'Retry', () => { L.done = false; loadMore(); });
    L.done = true;
  } finally {
    if (gen === L.gen) {
      L.loading = false;
      renderInfo();
    }
  }
}

function renderInfo() {
  const n = L.rows.length;
  const info = $('#list-info');
  const more = $('#more');
  let text;
  if (L.loading && n === 0) text = 'Loading…';
  else if (F.q) text = `${n.toLocaleString()} ${n === 1 ? 'match' : 'matches'} for “${F.q}” in ${L.scanned.toLocaleString()} scanned`;
  else text = `${n.toLocaleString()} ${n === 1 ? 'capture' : 'captures'}${L.done ? '' : ' shown, older ones below'}`;
  if (L.loading && n > 0) text += ' · loading…';
  info.textContent = text;
  more.hidden = L.done;
  more.disabled = L.loading;
  more.textContent = F.q ? 'Search older captures' : 'Load older captures';
  const empty = $('#empty');
  empty.hidden = n > 0 || L.loading || L.error !== '';
  const filtered = F.code || F.route || F.q || F.since || F.until;
  empty.textContent = filtered
    ? 'No captures match these filters.'
    : 'No failing requests captured yet. They appear here as they happen.';
}

// insertLive puts a summary from the live stream or a top-up in place,
// newest first, keeping the rows in view where they are.
function insertLive(s) {
  learnRoute(s.route);
  if (L.ids.has(s.id) || !matches(s)) return false;
  let i = 0;
  while (i < L.rows.length && L.rows[i].id > s.id) i++;
  if (i === L.rows.length && !L.done) return false; // paging will bring it
  L.ids.add(s.id);
  L.rows.splice(i, 0, s);
  const tr = rowEl(s);
  tr.classList.add('fresh');
  const keep = scroller.scrollTop > 0;
  const before = scroller.scrollHeight;
  tbody.insertBefore(tr, tbody.children[i] || null);
  if (keep) scroller.scrollTop += scroller.scrollHeight - before;
  if (!L.active) setActive(tr, false);
  while (L.rows.length > MAX_ROWS) {
    const last = tbody.lastElementChild;
    if (last === L.active) break;
    const gone = L.rows.pop();
    L.ids.delete(gone.id);
    last.remove();
    L.cursor = L.rows[L.rows.length - 1].id;
    L.done = false;
  }
  renderInfo();
  return true;
}

// topUp merges the newest captures after the stream (re)connects, so
// that nothing stored between the list's load and the stream is missed.
async function topUp() {
  if (F.until || L.gen === 0) return;
  const gen = L.gen;
  const p = apiParams();
  p.set('limit', '100');
  try {
    const data = await api('/api/captures?' + p);
    if (gen !== L.gen) return;
    const caps = data.captures || [];
    const known = caps.some((s) => L.ids.has(s.id));
    for (const s of caps.slice().reverse()) insertLive(s);
    if (caps.length === 100 && !known && L.rows.length > 0 && !F.q) gapSeen();
  } catch { /* the stream will try again */ }
}

function gapSeen() {
  showBanner('Captures arrived faster than live updates carry; the list may miss some.', 'Reload the list', () => reload());
}

// ---- live updates: server-sent events read with fetch, so that the
// token travels in a header and never in a URL ----

let lastEventId = '';
function setLive(state, text) {
  const el = $('#live');
  el.dataset.state = state;
  el.textContent = text;
}

async function live() {
  let delay = 1000;
  for (;;) {
    try {
      setLive('connecting', 'Connecting…');
      const headers = { Accept: 'text/event-stream' };
      if (token) headers.Authorization = 'Bearer ' + token;
      if (lastEventId) headers['Last-Event-ID'] = lastEventId;
      const resp = await fetch('/events', { headers, cache: 'no-store', credentials: 'omit', redirect: 'error' });
      if (resp.status === 401) {
        setToken('');
        await askToken(false);
        continue;
      }
      if (resp.status === 503) {
        setLive('off', 'Live updates busy, retrying');
        delay = 15000;
        throw new Error('busy');
      }
      if (!resp.ok || !resp.body) throw new Error('HTTP ' + resp.status);
      const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value.replace(/\r\n?/g, '\n');
        let k;
        while ((k = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, k);
          buf = buf.slice(k + 2);
          const ev = { event: 'message', data: [], id: '' };
          for (const line of block.split('\n')) {
            if (line === '' || line[0] === ':') continue;
            const c = line.indexOf(':');
            const field = c < 0 ? line : line.slice(0, c);
            const val = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
            if (field === 'event') ev.event = val;
            else if (field === 'data') ev.data.push(val);
            else if (field === 'id') ev.id = val;
          }
          onEvent(ev);
          delay = 1000;
        }
      }
      setLive('connecting', 'Reconnecting…');
    } catch (e) {
      if (e && e.message !== 'busy') setLive('retry', 'Live updates lost, retrying');
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 30000);
  }
}

function onEvent(ev) {
  if (ev.id && ID_RE.test(ev.id) && ev.id > lastEventId) lastEventId = ev.id;
  switch (ev.event) {
    case 'ready':
      setLive('on', 'Live');
      topUp();
      break;
    case 'capture': {
      let s;
      try { s = JSON.parse(ev.data.join('\n')); } catch { return; }
      if (s && typeof s.id === 'string' && ID_RE.test(s.id)) insertLive(s);
      break;
    }
    case 'gap':
      if (!F.until) gapSeen();
      break;
  }
}

// ---- banner and toast ----

function showBanner(text, action, fn) {
  const b = $('#banner');
  b.replaceChildren(h('span', null, text));
  if (action) {
    const btn = h('button', { type: 'button' }, action);
    btn.addEventListener('click', () => { hideBanner(); fn(); });
    b.append(btn);
  }
  b.hidden = false;
}

function hideBanner() { $('#banner').hidden = true; }

let toastTimer = 0;
function toast(text) {
  const t = $('#toast');
  t.textContent = text;
  t.classList.add('show');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => t.classList.remove('show'), 2500);
}

async function copyText(text, what) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      toast('Copied the ' + what + '.');
      return;
    } catch { /* fall back to the dialog */ }
  }
  $('#text-title').textContent = what[0].toUpperCase() + what.slice(1);
  const ta = $('#text-body');
  ta.value = text;
  $('#text-dialog').showModal();
  ta.focus();
  ta.select();
}

// ---- one capture ----

const pane = $('#detail');
let detailCtrl = null;
let current = null;
const curlCache = new Map();

function markCurrentRow() {
  for (const tr of tbody.querySelectorAll('tr[aria-current]')) tr.removeAttribute('aria-current');
  if (!openId) return;
  for (const tr of tbody.children) {
    if (rowOf.get(tr)?.id === openId) { tr.setAttribute('aria-current', 'true'); break; }
  }
}

async function openCapture(id, { focus = false, history: mode = 'push' } = {}) {
  if (!ID_RE.test(id)) return;
  const same = id === openId && current && current.id === id;
  openId = id;
  if (mode !== 'none') writeURL(mode);
  markCurrentRow();
  document.body.classList.add('has-detail');
  pane.hidden = false;
  if (same) {
    if (focus) $('#detail-title')?.focus();
    return;
  }
  if (detailCtrl) detailCtrl.abort();
  detailCtrl = new AbortController();
  const slow = setTimeout(() => pane.replaceChildren(h('p', { class: 'loading' }, 'Loading capture…')), 150);
  try {
    const c = await api('/api/captures/' + id, 'json', detailCtrl.signal);
    clearTimeout(slow);
    if (id !== openId) return;
    current = c;
    pane.replaceChildren(...renderCapture(c, captureActions));
    pane.scrollTop = 0;
    if (focus) $('#detail-title').focus();
    if (curlCache.size > 100) curlCache.clear();
    if (!curlCache.has(id)) api('/api/captures/' + id + '/curl', 'text').then((t) => curlCache.set(id, t), () => {});
  } catch (e) {
    clearTimeout(slow);
    if (e.name === 'AbortError' || id !== openId) return;
    current = null;
    const msg = e.status === 404 ? 'This capture is no longer stored: the store keeps the newest ones.' : 'Could not load the capture: ' + e.message;
    pane.replaceChildren(
      titleBar(() => closeDetail(), h('h2', { id: 'detail-title', tabindex: '-1' }, 'Capture ' + id)),
      h('div', { class: 'd-head' }, h('p', { class: 'notice' }, msg)));
    if (focus) $('#detail-title').focus();
  }
}

function closeDetail(mode = 'push') {
  if (!openId && pane.hidden) return;
  openId = '';
  current = null;
  if (detailCtrl) detailCtrl.abort();
  pane.hidden = true;
  pane.replaceChildren();
  document.body.classList.remove('has-detail');
  if (mode !== 'none') writeURL(mode);
  markCurrentRow();
  if (L.active) L.active.focus();
}

async function copyCurl() {
  if (!current) return;
  const id = current.id;
  try {
    const text = curlCache.get(id) ?? await api('/api/captures/' + id + '/curl', 'text');
    curlCache.set(id, text);
    await copyText(text, 'curl command');
  } catch (e) {
    toast('Could not get the curl command: ' + e.message);
  }
}

async function downloadHAR() {
  if (!current) return;
  const id = current.id;
  try {
    const blob = await api('/api/captures/' + id + '/har', 'blob');
    const url = URL.createObjectURL(new Blob([blob], { type: 'application/json' }));
    const a = h('a', { href: url, download: 'faultline-' + id + '.har', hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 30000);
    toast('HAR saved as faultline-' + id + '.har');
  } catch (e) {
    toast('Could not get the HAR: ' + e.message);
  }
}

// captureActions are what the capture view's buttons do.
const captureActions = {
  close: () => closeDetail(),
  copyCurl,
  downloadHAR,
  copyText,
  link: (id) => location.origin + urlFor({}, id),
  hasToken: () => token !== '',
};

// ---- events ----

form.addEventListener('submit', (ev) => ev.preventDefault());
codeIn.addEventListener('input', () => filtersChanged(400));
routeIn.addEventListener('input', () => filtersChanged(400));
routeIn.addEventListener('change', () => filtersChanged(0));
qIn.addEventListener('input', () => filtersChanged(250));
rangeIn.addEventListener('change', () => {
  if (rangeIn.value === 'custom' && !sinceIn.value) sinceIn.value = toLocalInput(Date.now() - 3600e3);
  filtersChanged(0);
});
sinceIn.addEventListener('change', () => filtersChanged(0));
untilIn.addEventListener('change', () => filtersChanged(0));
for (const b of form.querySelectorAll('.chip')) {
  b.addEventListener('click', () => { codeIn.value = b.dataset.code; filtersChanged(0); });
}
$('#clear').addEventListener('click', () => {
  codeIn.value = routeIn.value = qIn.value = '';
  rangeIn.value = '';
  sinceIn.value = untilIn.value = '';
  filtersChanged(0);
});
$('#more').addEventListener('click', () => loadMore());
new IntersectionObserver((entries) => {
  if (entries.some((e) => e.isIntersecting) && !F.q) loadMore();
}, { root: scroller, rootMargin: '400px' }).observe($('#more'));

tbody.addEventListener('click', (ev) => {
  const tr = ev.target.closest('tr');
  if (!tr || !rowOf.has(tr)) return;
  setActive(tr, true);
  openCapture(rowOf.get(tr).id);
});

let followTimer = 0;
function moveTo(tr) {
  if (!tr) return;
  setActive(tr, true);
  if (openId) {
    clearTimeout(followTimer);
    const id = rowOf.get(tr).id;
    followTimer = setTimeout(() => openCapture(id, { history: 'replace' }), 120);
  }
}

tbody.addEventListener('keydown', (ev) => {
  const tr = ev.target.closest('tr');
  if (!tr || ev.altKey || ev.ctrlKey || ev.metaKey) return;
  switch (ev.key) {
    case 'ArrowDown': case 'j':
      if (tr.nextElementSibling) moveTo(tr.nextElementSibling);
      else loadMore();
      break;
    case 'ArrowUp': case 'k': moveTo(tr.previousElementSibling); break;
    case 'Home': moveTo(tbody.firstElementChild); break;
    case 'End': moveTo(tbody.lastElementChild); break;
    case 'PageDown': moveTo(tbody.children[Math.min([...tbody.children].indexOf(tr) + 15, tbody.children.length - 1)]); break;
    case 'PageUp': moveTo(tbody.children[Math.max([...tbody.children].indexOf(tr) - 15, 0)]); break;
    case 'Enter': case 'o': case ' ':
      openCapture(rowOf.get(tr).id, { focus: ev.key !== ' ' });
      break;
    default: return;
  }
  ev.preventDefault();
});

document.addEventListener('keydown', (ev) => {
  if (ev.defaultPrevented || ev.altKey || ev.ctrlKey || ev.metaKey) return;
  if (document.querySelector('dialog[open]')) return;
  const t = ev.target;
  const typing = t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement || t instanceof HTMLSelectElement;
  if (ev.key === 'Escape') {
    if (typing && t === qIn && qIn.value === '') { qIn.blur(); L.active?.focus(); return; }
    if (!typing && openId) { ev.preventDefault(); closeDetail(); }
    return;
  }
  if (typing) return;
  switch (ev.key) {
    case '/': qIn.focus(); qIn.select(); break;
    case '?': $('#help-dialog').showModal(); break;
    case 'c': if (current) copyCurl(); else return; break;
    case 'j': case 'ArrowDown':
      // In the open capture, the arrows scroll; j and k move everywhere.
      if (ev.key === 'ArrowDown' && t.closest && t.closest('#detail')) return;
      moveTo(L.active ? L.active.nextElementSibling || L.active : tbody.firstElementChild);
      break;
    case 'k': case 'ArrowUp':
      if (ev.key === 'ArrowUp' && t.closest && t.closest('#detail')) return;
      moveTo(L.active ? L.active.previousElementSibling || L.active : tbody.firstElementChild);
      break;
    default: return;
  }
  ev.preventDefault();
});

for (const b of document.querySelectorAll('dialog [data-close]')) {
  b.addEventListener('click', () => b.closest('dialog').close());
}
$('#token-dialog').addEventListener('cancel', (ev) => ev.preventDefault()); // nothing works without it
$('#help').addEventListener('click', () => $('#help-dialog').showModal());
$('#forget-token').addEventListener('click', () => { setToken(''); location.reload(); });

window.addEventListener('popstate', () => {
  const before = JSON.stringify(F);
  readURL();
  fToForm();
  if (JSON.stringify(F) !== before) reload();
  if (openId) openCapture(openId, { history: 'none' });
  else closeDetail('none');
});

// ---- start ----

setToken(token);
readURL();
fToForm();
if (!checkCode()) F.code = '';
reload();
if (openId) openCapture(openId, { history: 'none', focus: true });
live();
