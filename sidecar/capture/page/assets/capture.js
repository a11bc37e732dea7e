// The view of one capture: validation errors, redactions, the request and
// the response with headers, cookies and bodies (JSON re-indented and
// coloured), and the actions. Everything captured is rendered as text.
import {
  $, h, REDACTED_WHOLE, WHERE, statusBadge, fullFmt, ago, fmtDur, fmtBytes,
  shellQuote, traceHref, marker, textWithMarkers,
} from './dom.js';

// PRETTY_LIMIT is the largest JSON body re-indented; larger ones are shown
// as captured.
const PRETTY_LIMIT = 512 << 10;

function headerValue(fields, name) {
  const f = (fields || []).find((x) => String(x.name).toLowerCase() === name);
  return f ? f.value : '';
}

function fieldsTable(fields, label) {
  if (!fields || fields.length === 0) return h('p', { class: 'muted none' }, 'No ' + label.toLowerCase() + '.');
  return h('table', { class: 'kv' },
    h('caption', { class: 'sr' }, label),
    h('tbody', null, fields.map((f) => h('tr', null,
      h('th', { scope: 'row' }, String(f.name)),
      h('td', null, textWithMarkers(f.value, f.name))))));
}

function queryFields(url) {
  const i = String(url).indexOf('?');
  if (i < 0) return [];
  const out = [];
  for (const part of url.slice(i + 1).split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const dec = (s) => { try { return decodeURIComponent(s.replace(/\+/g, ' ')); } catch { return s; } };
    out.push({ name: dec(eq < 0 ? part : part.slice(0, eq)), value: eq < 0 ? '' : dec(part.slice(eq + 1)) });
  }
  return out;
}

// renderJSON re-indents JSON text token by token, so that numbers keep
// their exact digits, and colours it; null when text is not JSON.
function renderJSON(text) {
  try { JSON.parse(text); } catch { return null; }
  if (text.length > PRETTY_LIMIT) return null;
  const out = h('code', { class: 'json' });
  let pending = '';
  const flush = () => { if (pending) { out.append(pending); pending = ''; } };
  const tok = (cls, s) => { flush(); out.append(h('span', { class: cls }, s)); };
  const ws = ' \t\r\n';
  const stack = [];
  let depth = 0, i = 0, key = null, inline = 0;
  const nl = (after) => { pending += inline ? (after === ',' ? ' ' : '') : '\n' + '  '.repeat(depth); };
  // short reports whether the array at i holds only scalars and is short
  // enough for one line, like ["body", "price"].
  const short = (i) => {
    for (let j = i + 1; j < n && j - i < 80; j++) {
      const c = text[j];
      if (c === '[' || c === '{') return false;
      if (c === ']') return true;
      if (c === '"') { j++; while (j < n && text[j] !== '"') j += text[j] === '\\' ? 2 : 1; }
    }
    return false;
  };
  const n = text.length;
  while (i < n) {
    const c = text[i];
    if (ws.includes(c)) { i++; continue; }
    if (c === '{' || c === '[') {
      let j = i + 1;
      while (j < n && ws.includes(text[j])) j++;
      const close = c === '{' ? '}' : ']';
      key = null;
      if (text[j] === close) { pending += c + close; i = j + 1; continue; }
      pending += c;
      stack.push(c);
      if (inline || (c === '[' && short(i))) inline++;
      depth++;
      nl();
      i++;
      continue;
    }
    if (c === '}' || c === ']') {
      depth--;
      stack.pop();
      nl();
      if (inline) inline--;
      pending += c;
      i++;
      key = null;
      continue;
    }
    if (c === ',') { pending += ','; nl(','); i++; key = null; continue; }
    if (c === ':') { pending += ': '; i++; continue; }
    if (c === '"') {
      let j = i + 1;
      while (j < n && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const raw = text.slice(i, j + 1);
      let k = j + 1;
      while (k < n && ws.includes(text[k])) k++;
      let val = '';
      try { val = JSON.parse(raw); } catch { val = raw; }
      if (stack[stack.length - 1] === '{' && text[k] === ':') {
        tok('k', raw);
        key = val;
      } else {
        const whole = REDACTED_WHOLE.exec(val);
        if (whole) { flush(); out.append(marker(key !== null ? 'removed: ' + key : 'removed', whole[1])); }
        else if (raw.includes('[REDACTED')) { flush(); out.append(h('span', { class: 's' }, textWithMarkers(raw))); }
        else tok('s', raw);
        key = null;
      }
      i = j + 1;
      continue;
    }
    let j = i;
    while (j < n && !',]}:'.includes(text[j]) && !ws.includes(text[j])) j++;
    const lit = text.slice(i, j);
    tok(lit === 'true' || lit === 'false' ? 'b' : lit === 'null' ? 'n' : 'num', lit);
    key = null;
    i = j;
  }
  flush();
  return out;
}

function hexDump(b64) {
  let bin;
  try { bin = atob(b64); } catch { return h('pre', { class: 'body' }, b64); }
  const n = Math.min(bin.length, 4096);
  const lines = [];
  for (let off = 0; off < n; off += 16) {
    let hex = '', asc = '';
    for (let i = off; i < off + 16; i++) {
      if (i < n) {
        const b = bin.charCodeAt(i);
        hex += b.toString(16).padStart(2, '0') + (i % 16 === 7 ? '  ' : ' ');
        asc += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.';
      } else hex += i % 16 === 7 ? '    ' : '   ';
    }
    lines.push(off.toString(16).padStart(8, '0') + '  ' + hex + ' ' + asc);
  }
  if (bin.length > n) lines.push(`… ${bin.length - n} more bytes`);
  return h('pre', { class: 'body hex' }, lines.join('\n'));
}

function bodyBlock(b, headers, what) {
  const text = b.body || '';
  const size = typeof b.body_size === 'number' ? b.body_size : text.length;
  if (!text && !size) return h('p', { class: 'muted none' }, 'No body.');
  const ct = b.content_type || headerValue(headers, 'content-type');
  const meta = h('div', { class: 'body-meta' },
    ct ? h('span', { class: 'tag' }, ct) : null,
    h('span', { class: 'muted' }, fmtBytes(size)),
    b.body_base64 ? h('span', { class: 'tag' }, 'binary') : null);
  const parts = [meta];
  if (b.body_truncated) {
    parts.push(h('p', { class: 'notice' }, `Cut at the capture limit: ${fmtBytes(size)} passed, the first ${fmtBytes(b.body_base64 ? Math.floor(text.length * 3 / 4) : new Blob([text]).size)} were kept.`));
  }
  if (!text) {
    parts.push(h('p', { class: 'muted none' }, 'The body was not kept (--capture-bodies off, or over the limit).'));
    return h('div', { class: 'body-block' }, parts);
  }
  if (b.body_base64) {
    parts.push(hexDump(text));
    return h('div', { class: 'body-block' }, parts);
  }
  const pretty = renderJSON(text);
  const raw = h('pre', { class: 'body' }, textWithMarkers(text));
  if (!pretty) {
    parts.push(raw);
    return h('div', { class: 'body-block' }, parts);
  }
  const prettyPre = h('pre', { class: 'body' }, pretty);
  raw.hidden = true;
  const toggle = h('button', { type: 'button', class: 'ghost small', 'aria-pressed': 'false' }, 'Raw');
  toggle.setAttribute('aria-label', 'Show the ' + what + ' body as captured');
  toggle.addEventListener('click', () => {
    const showRaw = raw.hidden;
    raw.hidden = !showRaw;
    prettyPre.hidden = showRaw;
    toggle.setAttribute('aria-pressed', String(showRaw));
  });
  meta.append(h('span', { class: 'tag json-tag' }, 'JSON'), toggle);
  parts.push(prettyPre, raw);
  return h('div', { class: 'body-block' }, parts);
}

// validation returns FastAPI's error detail: a table of pydantic errors
// (field, message, type) or the detail string.
function validation(resp) {
  if (resp.body_base64 || !resp.body) return null;
  let v;
  try {
    v = JSON.parse(resp.body);
  } catch {
    // A short text answer, such as Starlette's "Internal Server Error",
    // is the gist of the failure: show it first.
    if (resp.body.length > 400) return null;
    return h('section', { class: 'card detail-msg', 'aria-label': 'Response body' },
      h('span', { class: 'label' }, 'response'), ' ', textWithMarkers(resp.body));
  }
  if (!v || typeof v !== 'object') return null;
  const d = v.detail;
  if (typeof d === 'string') {
    return h('section', { class: 'card detail-msg', 'aria-label': 'Error detail' },
      h('span', { class: 'label' }, 'detail'), ' ', textWithMarkers(d));
  }
  if (!Array.isArray(d) || d.length === 0 || !d.every((x) => x && typeof x === 'object' && ('loc' in x || 'msg' in x))) return null;
  const hasInput = d.some((x) => 'input' in x);
  const show = (x) => {
    if (x === undefined) return '';
    const s = typeof x === 'string' ? x : JSON.stringify(x);
    return s.length > 300 ? s.slice(0, 300) + '…' : s;
  };
  return h('section', { class: 'card validation', 'aria-labelledby': 'v-title' },
    h('h3', { id: 'v-title' }, `Validation errors (${d.length})`),
    h('table', { class: 'grid' },
      h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Field'), h('th', { scope: 'col' }, 'Message'), h('th', { scope: 'col' }, 'Type'), hasInput ? h('th', { scope: 'col' }, 'Input') : null)),
      h('tbody', null, d.map((x) => h('tr', null,
        h('td', { class: 'field' }, Array.isArray(x.loc) ? x.loc.map(String).join('.') : show(x.loc)),
        h('td', null, textWithMarkers(show(x.msg))),
        h('td', { class: 'type' }, show(x.type)),
        hasInput ? h('td', { class: 'input' }, textWithMarkers(show(x.input))) : null)))));
}

function redactions(c) {
  const list = c.redacted || [];
  if (list.length === 0) return null;
  return h('section', { class: 'card redactions', 'aria-labelledby': 'r-title' },
    h('h3', { id: 'r-title' }, 'Removed before storing'),
    h('ul', { class: 'chips-list' }, list.map((r) => h('li', null,
      marker('removed: ' + r.name, r.fingerprint),
      ' ', h('span', { class: 'muted' }, WHERE[r.where] || r.where)))));
}

// replayCommand is the `faultline captures replay` line for c, with a
// placeholder for each redacted request value; withToken adds a note that
// the CLI needs the admin token too.
export function replayCommand(c, to, withToken) {
  const args = [`faultline captures replay ${c.id}`, '--admin ' + shellQuote(location.origin), '--to ' + shellQuote(to || 'http://localhost:8000')];
  const cookies = [];
  let cookieRedacted = false;
  for (const r of c.redacted || []) {
    if (r.where === 'request.header') args.push('--set-header ' + shellQuote(r.name + ': REPLACE_ME'));
    else if (r.where === 'request.query' || r.where === 'request.body') args.push('--set-field ' + shellQuote(r.name + '=REPLACE_ME'));
    else if (r.where === 'request.cookie') cookieRedacted = true;
  }
  if (cookieRedacted) {
    for (const ck of c.request.cookies || []) cookies.push(ck.name + '=' + (REDACTED_WHOLE.test(ck.value) ? 'REPLACE_ME' : ck.value));
    args.push('--set-header ' + shellQuote('Cookie: ' + cookies.join('; ')));
  }
  let cmd = args.join(' \\\n  ');
  const notes = [];
  if (withToken) notes.push('# the CLI reads the admin token from FAULTLINE_ADMIN_TOKEN');
  if (args.some((a) => a.includes('REPLACE_ME'))) notes.push('# replace REPLACE_ME with the real values, which were never stored');
  if (notes.length) cmd = notes.join('\n') + '\n' + cmd;
  return cmd;
}

function replayPanel(c, act) {
  const REPLAY_KEY = 'faultline.replayTo';
  let to = 'http://localhost:8000';
  try { to = localStorage.getItem(REPLAY_KEY) || to; } catch { /* default */ }
  const input = h('input', { type: 'url', value: to, spellcheck: 'false', autocomplete: 'off', id: 'replay-to' });
  const pre = h('pre', { class: 'cmd' }, replayCommand(c, to, act.hasToken()));
  input.addEventListener('input', () => {
    pre.textContent = replayCommand(c, input.value.trim(), act.hasToken());
    try { localStorage.setItem(REPLAY_KEY, input.value.trim()); } catch { /* not kept */ }
  });
  const copy = h('button', { type: 'button', class: 'small' }, 'Copy command');
  copy.addEventListener('click', () => act.copyText(pre.textContent, 'replay command'));
  return h('div', { class: 'replay', id: 'replay-panel', hidden: true },
    h('label', { class: 'field inline', for: 'replay-to' }, h('span', null, 'Send to')), input, copy, pre);
}

function button(label, fn, attrs) {
  const b = h('button', Object.assign({ type: 'button' }, attrs || {}), label);
  b.addEventListener('click', fn);
  return b;
}

function metaItem(label, ...value) {
  return h('div', { class: 'meta-item' }, h('dt', null, label), h('dd', null, value));
}

// titleBar is the capture view's first line, which stays in view: the
// status, the request line, and a close button.
export function titleBar(onClose, ...title) {
  const close = h('button', { type: 'button', class: 'ghost icon close', 'aria-label': 'Close the capture (Esc)', title: 'Close (Esc)' }, '×');
  close.addEventListener('click', () => onClose());
  return h('div', { class: 'd-title' }, title, close);
}

// renderCapture returns the view of capture c (the admin API's JSON). act
// holds what the buttons do: close, copyCurl, downloadHAR, copyText(text,
// what), link(id) and hasToken().
export function renderCapture(c, act) {
  const req = c.request || {}, resp = c.response || {};
  const href = c.trace_id ? traceHref(c.trace_id) : '';
  const trace = !c.trace_id
    ? h('span', { class: 'muted' }, 'none')
    : href
      ? h('a', { href, target: '_blank', rel: 'noopener noreferrer', class: 'mono' }, c.trace_id)
      : h('span', { class: 'mono' }, c.trace_id);
  const d = new Date(c.time);
  const replay = replayPanel(c, act);
  const replayBtn = button('Replay command', () => {
    replay.hidden = !replay.hidden;
    replayBtn.setAttribute('aria-expanded', String(!replay.hidden));
    if (!replay.hidden) $('#replay-to').focus();
  }, { 'aria-expanded': 'false', 'aria-controls': 'replay-panel' });

  const title = titleBar(act.close,
    statusBadge(resp.status, false),
    h('h2', { id: 'detail-title', tabindex: '-1' },
      h('span', { class: 'method' }, req.method), ' ', h('span', { class: 'url' }, textWithMarkers(req.url))));
  const head = h('div', { class: 'd-head' },
    h('dl', { class: 'meta' },
      metaItem('Route', c.route ? h('span', { class: 'mono' }, c.route) : h('span', { class: 'muted' }, '(none)')),
      metaItem('Time', h('time', { datetime: c.time, title: isNaN(d) ? c.time : d.toISOString() }, isNaN(d) ? c.time : fullFmt.format(d)), ' ', h('span', { class: 'muted' }, ago(c.time))),
      metaItem('Duration', fmtDur(c.duration_ms)),
      metaItem('Trace', trace),
      metaItem('Capture', h('span', { class: 'mono' }, c.id)),
      c.client_address ? metaItem('Client', h('span', { class: 'mono' }, c.client_address)) : null,
      req.host ? metaItem('Host', h('span', { class: 'mono' }, req.host)) : null,
      req.proto ? metaItem('Protocol', req.proto) : null),
    h('div', { class: 'actions' },
      button('Copy as curl', act.copyCurl, { class: 'primary', title: 'Copy as curl (c)' }),
      button('Download HAR', act.downloadHAR),
      replayBtn,
      button('Copy link', () => act.copyText(act.link(c.id), 'link to this capture'), { class: 'ghost' })),
    replay);

  const query = queryFields(req.url || '');
  const reqSection = h('section', { class: 'exchange', 'aria-labelledby': 'req-title' },
    h('h3', { id: 'req-title' }, 'Request ', h('span', { class: 'method tag' }, req.method)),
    query.length ? [h('h4', null, 'Query'), fieldsTable(query, 'Query parameters')] : null,
    h('h4', null, 'Body'), bodyBlock(req, req.headers, 'request'),
    h('h4', null, 'Headers'), fieldsTable(req.headers, 'Headers'),
    h('h4', null, 'Cookies'), fieldsTable(req.cookies, 'Cookies'));
  const respSection = h('section', { class: 'exchange', 'aria-labelledby': 'resp-title' },
    h('h3', { id: 'resp-title' }, 'Response ', statusBadge(resp.status, false)),
    h('h4', null, 'Body'), bodyBlock(resp, resp.headers, 'response'),
    h('h4', null, 'Headers'), fieldsTable(resp.headers, 'Headers'));

  return [title, head, h('div', { class: 'd-body' }, validation(resp), redactions(c), reqSection, respSection)];
}
