// DOM and formatting helpers of the capture browser. Captured data reaches
// the DOM only through h and textWithMarkers, as Text nodes: h appends
// strings as text and sets only attributes that run nothing.

export const $ = (sel, root = document) => root.querySelector(sel);

// ATTRS are the attributes h sets: none runs script or loads anything.
const ATTRS = /^(?:class|id|title|type|tabindex|href|target|rel|download|hidden|value|for|datetime|scope|spellcheck|autocomplete|placeholder|role|aria-[a-z]+)$/;

// h returns a new element with attributes and children; strings become
// Text nodes, never markup.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (!ATTRS.test(k)) throw new Error('h: attribute not allowed: ' + k);
    if (k === 'href' && !safeHref(v)) continue;
    if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

function safeHref(v) {
  try {
    const u = new URL(String(v), location.href);
    return u.protocol === 'http:' || u.protocol === 'https:' || u.protocol === 'blob:';
  } catch {
    return false;
  }
}


export const ID_RE = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/;
export const CODE_RE = /^(?:[1-5]xx|[1-5][0-9]{2})$/i;
const REDACTED_RE = /\[REDACTED(?::hmac-sha256:([0-9a-f]{12}))?\]/g;
export const REDACTED_WHOLE = /^\[REDACTED(?::hmac-sha256:([0-9a-f]{12}))?\]$/;
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

const REASONS = {
  400: 'Bad Request', 401: 'Unauthorized', 402: 'Payment Required', 403: 'Forbidden', 404: 'Not Found',
  405: 'Method Not Allowed', 406: 'Not Acceptable', 408: 'Request Timeout', 409: 'Conflict', 410: 'Gone',
  411: 'Length Required', 412: 'Precondition Failed', 413: 'Content Too Large', 414: 'URI Too Long',
  415: 'Unsupported Media Type', 418: "I'm a teapot", 421: 'Misdirected Request', 422: 'Unprocessable Content',
  423: 'Locked', 424: 'Failed Dependency', 425: 'Too Early', 426: 'Upgrade Required', 428: 'Precondition Required',
  429: 'Too Many Requests', 431: 'Headers Too Large', 451: 'Unavailable For Legal Reasons', 499: 'Client Closed Request',
  500: 'Internal Server Error', 501: 'Not Implemented', 502: 'Bad Gateway', 503: 'Service Unavailable',
  504: 'Gateway Timeout', 505: 'HTTP Version Not Supported', 507: 'Insufficient Storage', 508: 'Loop Detected',
};
export const WHERE = {
  'request.header': 'request header', 'request.cookie': 'request cookie', 'request.query': 'query parameter',
  'request.body': 'request body field', 'response.header': 'response header',
  'response.cookie': 'response cookie', 'response.body': 'response body field',
};

// SHORT are the reasons the list shows, to fit its column.
const SHORT = {
  413: 'Too Large', 415: 'Media Type', 422: 'Unprocessable', 429: 'Too Many', 431: 'Headers Too Large',
  451: 'Legal', 499: 'Client Closed', 500: 'Server Error', 505: 'HTTP Version', 507: 'Storage',
};

function reason(code) {
  if (REASONS[code]) return REASONS[code];
  if (code >= 500) return 'Server Error';
  if (code >= 400) return 'Client Error';
  return '';
}

function statusClass(code) {
  if (code >= 500) return 'st st-5xx';
  if (code === 401 || code === 403 || code === 407) return 'st st-auth';
  if (code >= 400) return 'st st-4xx';
  return 'st st-ok';
}

// statusBadge carries the code and its reason as text: colour is a hint.
export function statusBadge(code, short) {
  return h('span', { class: statusClass(code) }, h('b', null, String(code)), ' ', h('span', { class: 'reason' }, (short && SHORT[code]) || reason(code)));
}

const dayFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });
const clockFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
export const fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

function fmtTime(iso) {
  const d = new Date(iso);
  if (isNaN(d)) return String(iso);
  const now = new Date();
  const clock = clockFmt.format(d);
  return d.toDateString() === now.toDateString() ? clock : dayFmt.format(d) + ' ' + clock;
}

export function timeEl(iso) {
  const d = new Date(iso);
  return h('time', { datetime: iso, title: isNaN(d) ? iso : d.toISOString() }, fmtTime(iso));
}

export function ago(iso) {
  const s = Math.round((Date.now() - new Date(iso)) / 1000);
  if (!isFinite(s)) return '';
  if (s < 5) return 'just now';
  if (s < 90) return s + ' s ago';
  if (s < 5400) return Math.round(s / 60) + ' min ago';
  if (s < 129600) return Math.round(s / 3600) + ' h ago';
  return Math.round(s / 86400) + ' days ago';
}

export function fmtDur(ms) {
  if (typeof ms !== 'number' || !isFinite(ms)) return '—';
  if (ms < 10) return ms.toFixed(2) + ' ms';
  if (ms < 100) return ms.toFixed(1) + ' ms';
  if (ms < 1000) return Math.round(ms) + ' ms';
  return (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + ' s';
}

export function fmtBytes(n) {
  if (typeof n !== 'number' || !isFinite(n)) return '';
  if (n < 1024) return n + ' B';
  if (n < 1 << 20) return (n / 1024).toFixed(n < 10240 ? 1 : 0) + ' KiB';
  return (n / (1 << 20)).toFixed(1) + ' MiB';
}

// idBefore returns the smallest capture ID of millisecond ms: IDs sort by
// time, so before=idBefore(t) lists captures made before t.
export function idBefore(ms) {
  let s = '';
  for (let i = 0; i < 10; i++) {
    s = CROCKFORD[ms % 32] + s;
    ms = Math.floor(ms / 32);
  }
  return s + '0'.repeat(16);
}

// durationMs reads the API's relative since: 15m, 2h, 7d, 1h30m.
export function durationMs(s) {
  const d = /^(\d+)d$/.exec(s);
  if (d) return +d[1] * 86400e3;
  const units = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1e3, m: 60e3, h: 3600e3 };
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0, m, end = 0;
  while ((m = re.exec(s))) { total += +m[1] * units[m[2]]; end = re.lastIndex; }
  return end === s.length && end > 0 ? total : NaN;
}

export function shellQuote(s) {
  return "'" + String(s).replace(/'/g, "'\\''") + "'";
}


const TRACE_TEMPLATE = (() => {
  const m = $('meta[name="faultline-trace-url"]');
  const t = m ? m.getAttribute('content') || '' : '';
  return /^https?:\/\//i.test(t) && t.includes('{trace_id}') ? t : '';
})();

export function traceHref(id) {
  if (!TRACE_TEMPLATE || !/^[0-9a-f]{32}$/i.test(id)) return '';
  const u = TRACE_TEMPLATE.split('{trace_id}').join(id);
  return safeHref(u) && /^https?:/i.test(u) ? u : '';
}


export function marker(text, fp) {
  return h('mark', {
    class: 'redacted',
    title: fp ? 'Removed before it was stored. HMAC fingerprint ' + fp : 'Removed before it was stored: the value never left the sidecar.',
  }, text);
}

// textWithMarkers renders s as text, with each redaction placeholder
// shown as a marker; a value removed whole reads "removed: <name>".
export function textWithMarkers(s, name) {
  s = String(s ?? '');
  const whole = REDACTED_WHOLE.exec(s);
  if (whole) return marker(name ? 'removed: ' + name : 'removed', whole[1]);
  const out = [];
  let last = 0;
  for (const m of s.matchAll(REDACTED_RE)) {
    out.push(s.slice(last, m.index), marker('removed', m[1]));
    last = m.index + m[0].length;
  }
  if (last === 0) return document.createTextNode(s);
  out.push(s.slice(last));
  return h('span', null, out);
}
