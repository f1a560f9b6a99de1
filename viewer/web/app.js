// The wfstore viewer: a workflow list and a workflow page over the JSON API of
// `wfstore serve` (README "The viewer"). Plain DOM: every value read from the
// store reaches the page through textContent or setAttribute, never as markup.
'use strict';

// The palette of render_timeline_svg (events/include/wfstore/timeline_svg.h),
// so the page and the timeline picture colour a status alike.
const STATUS_COLORS = {
  NOT_STARTED: '#bdbdbd', RUNNING: '#1565c0', PAUSED: '#f9a825',
  SUSPENDED: '#f9a825', SUCCEEDED: '#2e7d32', FAILED_CONTINUE: '#ef6c00',
  TERMINAL: '#c62828', CANCELED: '#616161', REDIRECT: '#00838f',
  STOPPED: '#6a1b9a', SKIPPED: '#90a4ae', BUFFERED: '#8d6e63',
};
const STATUSES = Object.keys(STATUS_COLORS);
const SVG_NS = 'http://www.w3.org/2000/svg';
const HISTORY_PAGE = 200;
const SLIDER_DEBOUNCE_MS = 150;

// ---- DOM helpers -----------------------------------------------------------

// An element with attributes (on* handlers are never set this way) and
// children: nodes, or strings that become text nodes.
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  setAttrs(node, attrs);
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  setAttrs(node, attrs);
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function setAttrs(node, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on')) throw new Error('no inline handlers: ' + key);
    node.setAttribute(key, value === true ? '' : String(value));
  }
}

// A status in its timeline colour (set through CSSOM, which a CSP without
// 'unsafe-inline' allows).
function badge(status) {
  const node = el('span', {class: 'badge', 'data-status': status}, String(status));
  node.style.backgroundColor = STATUS_COLORS[status] || '#000000';
  return node;
}

function fmtTime(ms) {
  if (ms === null || ms === undefined) return '–';
  const d = new Date(Number(ms));
  return isNaN(d) ? String(ms) : d.toISOString().replace('T', ' ').replace('Z', '');
}

// A time of day cell, the full time in its title.
function timeCell(ms) {
  const text = fmtTime(ms);
  return el('td', {class: 'mono nowrap', title: text}, text.length > 11 ? text.slice(11) : text);
}

function fmtValue(value, max) {
  const text = value === undefined ? '' :
      typeof value === 'string' ? value : JSON.stringify(value);
  return max && text.length > max ? text.slice(0, max) + '…' : text;
}

function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

// ---- API -------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, cls, message) {
    super(message);
    this.status = status;
    this.cls = cls;
  }
}

async function api(path, signal) {
  const response = await fetch(path, {signal, headers: {Accept: 'application/json'}});
  let body = null;
  try {
    body = await response.json();
  } catch (e) {
    if (response.ok) throw e;
  }
  if (!response.ok) {
    const err = (body && body.error) || {};
    throw new ApiError(response.status, err.class || 'HTTP ' + response.status,
                       err.message || response.statusText);
  }
  return body;
}

function wfPath(id, tail) {
  return '/api/workflows/' + encodeURIComponent(id) + (tail || '');
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== null && v !== undefined && v !== '') q.set(k, v);
  }
  const s = q.toString();
  return s ? '?' + s : '';
}

function errorBox(err) {
  const cls = err instanceof ApiError ? err.cls : err.name;
  return el('div', {class: 'error', role: 'alert'}, el('b', null, cls + ': '), err.message);
}

// ---- collapsible JSON --------------------------------------------------------

// A JSON value as a tree of <details>; a branch's children are built when it is
// first opened, so a large document costs nothing until looked at.
function jsonTree(value, label, open) {
  if (value === null || typeof value !== 'object') {
    return el('div', {class: 'json-leaf'},
              label !== undefined ? el('span', {class: 'json-key'}, label + ': ') : null,
              el('span', {class: 'json-' + (value === null ? 'null' : typeof value)},
                 JSON.stringify(value)));
  }
  const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v])
                                       : Object.entries(value);
  const summary = Array.isArray(value) ? `[${entries.length}]` : `{${entries.length}}`;
  const details = el('details', {class: 'json'},
                     el('summary', null,
                        label !== undefined ? el('span', {class: 'json-key'}, label + ': ') : null,
                        el('span', {class: 'muted'}, summary)));
  let built = false;
  const build = () => {
    if (built) return;
    built = true;
    for (const [k, v] of entries) details.append(jsonTree(v, k, false));
  };
  details.addEventListener('toggle', () => { if (details.open) build(); });
  if (open && entries.length) {
    details.open = true;
    build();
  }
  return details;
}

// ---- routing -----------------------------------------------------------------

// #wf=ID[&at=LSN] is a workflow page; anything else the list (its filters in
// the hash too: #app=A&status=S,...).
function route() {
  return new URLSearchParams(location.hash.slice(1));
}

function wfHref(id, at) {
  return '#' + query({wf: id, at}).slice(1);
}

let current = null;  // the view on screen: {dispose()}

function render() {
  const r = route();
  // Another point of the workflow on screen (a diff's event link): move to it.
  if (current instanceof WorkflowView && r.get('wf') === current.id) {
    current.goTo(r.get('at') || '');
    return;
  }
  if (current) current.dispose();
  const app = document.getElementById('app');
  app.replaceChildren();
  app.dataset.state = 'loading';
  current = r.get('wf') ? new WorkflowView(app, r.get('wf'), r.get('at'))
                        : new ListView(app, r);
}

// ---- live updates --------------------------------------------------------------

// One EventSource for the page; views subscribe to its commits.
const live = {
  source: null,
  listeners: new Set(),
  start() {
    const state = document.getElementById('live');
    this.source = new EventSource('/api/events');
    this.source.addEventListener('open', () => {
      state.textContent = 'live';
      state.className = 'live on';
    });
    this.source.addEventListener('error', () => {
      state.textContent = 'reconnecting';
      state.className = 'live off';
    });
    this.source.addEventListener('commit', (e) => {
      let data;
      try {
        data = JSON.parse(e.data);
      } catch (err) {
        return;
      }
      state.dataset.lastLsn = data.last_lsn;
      for (const fn of this.listeners) fn(data);
    });
  },
  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  },
};

// ---- the workflow list -----------------------------------------------------------

class ListView {
  constructor(root, params) {
    this.root = root;
    this.params = params;
    this.cursors = [];          // the cursors of the pages before this one
    this.cursor = params.get('cursor') || '';
    this.rows = new Map();      // workflow id -> <tr>
    this.pending = new Set();   // ids changed by commits, refreshed together
    this.newCount = 0;
    this.abort = null;
    this.flush = debounce(() => this.refreshChanged(), 250);
    this.unsubscribe = live.subscribe((c) => this.onCommit(c));
    this.build();
    this.load();
  }

  dispose() {
    this.unsubscribe();
    if (this.abort) this.abort.abort();
  }

  build() {
    const p = this.params;
    const selected = new Set((p.get('status') || '').split(',').filter(Boolean));
    this.form = el('form', {class: 'filters', id: 'filters'},
      el('label', null, 'Application ',
         el('input', {name: 'application', value: p.get('application') || '',
                      placeholder: 'any', size: 14})),
      el('fieldset', {class: 'statuses'}, el('legend', null, 'Status'),
         STATUSES.map((s) => el('label', {class: 'status-choice'},
           el('input', {type: 'checkbox', name: 'status', value: s, checked: selected.has(s)}),
           badge(s)))),
      el('label', null, 'Started after ',
         el('input', {type: 'datetime-local', name: 'after', step: 1,
                      value: toLocalInput(p.get('start_time_after'))})),
      el('label', null, 'before ',
         el('input', {type: 'datetime-local', name: 'before', step: 1,
                      value: toLocalInput(p.get('start_time_before'))})),
      el('label', null, el('input', {type: 'checkbox', name: 'pending',
                                      checked: p.get('pending') === '1'}), ' pending only'),
      el('label', null, 'Per page ',
         el('select', {name: 'limit'}, ['25', '50', '100', '200'].map((n) =>
            el('option', {value: n, selected: (p.get('limit') || '50') === n}, n)))),
      el('button', {type: 'submit'}, 'Apply'));
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      const f = new FormData(this.form);
      const statuses = f.getAll('status');
      location.hash = query({
        application: f.get('application').trim(),
        status: statuses.join(','),
        start_time_after: fromLocalInput(f.get('after')),
        start_time_before: fromLocalInput(f.get('before')),
        pending: f.get('pending') ? '1' : '',
        limit: f.get('limit'),
      }).slice(1) || 'list';
    });
    this.notice = el('div', {class: 'notice', hidden: true});
    this.notice.addEventListener('click', () => this.load());
    this.body = el('tbody');
    this.pager = el('div', {class: 'pager'});
    this.status = el('div', {class: 'muted'});
    this.root.append(this.form, this.notice, this.status,
      el('table', {class: 'list', id: 'workflows'},
         el('thead', null, el('tr', null,
           ['Workflow', 'Application', 'Name', 'Status', 'Started', 'Ended', 'Stages']
             .map((h) => el('th', null, h)))),
         this.body),
      this.pager);
  }

  apiQuery() {
    const p = this.params;
    return query({
      application: p.get('application'), status: p.get('status'),
      start_time_after: p.get('start_time_after'),
      start_time_before: p.get('start_time_before'),
      pending: p.get('pending'), limit: p.get('limit') || '50',
      cursor: this.cursor,
    });
  }

  async load() {
    if (this.abort) this.abort.abort();
    this.abort = new AbortController();
    this.root.dataset.state = 'loading';
    this.newCount = 0;
    this.notice.hidden = true;
    let page;
    try {
      page = await api('/api/workflows' + this.apiQuery(), this.abort.signal);
    } catch (err) {
      if (err.name === 'AbortError') return;
      this.status.replaceChildren(errorBox(err));
      this.root.dataset.state = 'error';
      return;
    }
    this.rows.clear();
    this.body.replaceChildren(...page.workflows.map((w) => this.row(w)));
    this.status.textContent = page.workflows.length ? '' : 'No workflows match.';
    if (page.total !== null && page.total !== undefined) {
      this.status.textContent = `${page.total} workflows`;
    }
    const prev = el('button', {type: 'button', disabled: !this.cursors.length}, '← Newer');
    prev.addEventListener('click', () => {
      this.cursor = this.cursors.pop();
      this.load();
    });
    const next = el('button', {type: 'button', id: 'next-page', disabled: !page.next_cursor},
                    'Older →');
    next.addEventListener('click', () => {
      this.cursors.push(this.cursor);
      this.cursor = page.next_cursor;
      this.load();
    });
    if (!this.drawn) {
      this.drawn = true;
      performance.mark('wfstore-list-drawn');
    }
    this.pager.replaceChildren(prev, el('span', {class: 'muted'},
                                        `page ${this.cursors.length + 1}`), next);
    this.root.dataset.state = 'ready';
  }

  row(w) {
    const tr = el('tr', {'data-id': w.id},
      el('td', {class: 'mono'}, el('a', {href: wfHref(w.id)}, w.id)),
      el('td', null, w.application),
      el('td', null, w.name),
      el('td', {class: 'status'}, badge(w.status)),
      el('td', {class: 'mono'}, fmtTime(w.start_time)),
      el('td', {class: 'mono'}, fmtTime(w.end_time)),
      el('td', {class: 'num'}, w.stage_count ?? ''));
    this.rows.set(w.id, tr);
    return tr;
  }

  onCommit(c) {
    for (const id of c.workflow_ids || []) {
      if (this.rows.has(id)) this.pending.add(id);
    }
    const stored = (c.events || []).filter((e) => e.type === 'WorkflowStored').length;
    if (stored) {
      this.newCount += stored;
      this.notice.textContent = `${this.newCount} new workflow(s) stored — click to reload`;
      this.notice.hidden = false;
    }
    if (this.pending.size) this.flush();
  }

  // Re-reads the rows commits touched, each once per burst of commits.
  async refreshChanged() {
    const ids = [...this.pending];
    this.pending.clear();
    for (const id of ids) {
      let w;
      try {
        w = await api(wfPath(id));
      } catch (err) {
        continue;
      }
      const old = this.rows.get(id);
      if (!old) continue;
      const summary = {id: w.id, application: w.application, name: w.name, status: w.status,
                       start_time: w.start_time, end_time: w.end_time,
                       stage_count: (w.stages || []).length};
      const tr = this.row(summary);
      tr.classList.add('flash');
      old.replaceWith(tr);
    }
  }
}

function toLocalInput(ms) {
  if (!ms) return '';
  const d = new Date(Number(ms));
  if (isNaN(d)) return '';
  return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 19);
}

function fromLocalInput(value) {
  if (!value) return '';
  const t = new Date(value).getTime();
  return isNaN(t) ? '' : String(t);
}

// ---- the stage graph ----------------------------------------------------------------

// Requisites as a DAG, left to right by depth; a stage's synthetic before- and
// after-stages drawn just above and below it, indented, joined by a dashed line.
function stageGraph(stages, selectedId, onSelect) {
  const byId = new Map(stages.map((s) => [s.id, s]));
  const byRef = new Map();
  const children = new Map();  // parent id -> {before: [], after: []}
  for (const s of stages) {
    if (s.parent_stage_id && byId.has(s.parent_stage_id) && s.synthetic_stage_owner) {
      const c = children.get(s.parent_stage_id) || {before: [], after: []};
      (s.synthetic_stage_owner === 'STAGE_BEFORE' ? c.before : c.after).push(s);
      children.set(s.parent_stage_id, c);
    } else {
      byRef.set(s.ref_id, s);
    }
  }
  const tops = stages.filter((s) => byRef.get(s.ref_id) === s);
  // Depth: the longest requisite chain; a cycle (bad data) stops at the repeat.
  const depth = new Map();
  const depthOf = (s, seen) => {
    if (depth.has(s.id)) return depth.get(s.id);
    if (seen.has(s.id)) return 0;
    seen.add(s.id);
    let d = 0;
    for (const ref of s.requisite_stage_ref_ids || []) {
      const up = byRef.get(ref);
      if (up) d = Math.max(d, depthOf(up, seen) + 1);
    }
    seen.delete(s.id);
    depth.set(s.id, d);
    return d;
  };
  const columns = [];
  for (const s of tops) {
    const d = depthOf(s, new Set());
    (columns[d] = columns[d] || []).push(s);
  }
  // A stage's group: its before-stages, itself, its after-stages, recursively.
  const group = (s, indent) => {
    const c = children.get(s.id) || {before: [], after: []};
    return [...c.before.flatMap((b) => group(b, indent + 1)), {stage: s, indent},
            ...c.after.flatMap((a) => group(a, indent + 1))];
  };
  const W = 165, H = 34, SH = 26, GAP_X = 44, GAP_Y = 12, PAD = 12, INDENT = 14;
  const pos = new Map();
  const nodes = [];
  let height = 0;
  columns.forEach((col, ci) => {
    let y = PAD;
    for (const s of col || []) {
      for (const item of group(s, 0)) {
        const h = item.indent ? SH : H;
        const x = PAD + ci * (W + GAP_X) + item.indent * INDENT;
        pos.set(item.stage.id, {x, y, w: W - item.indent * INDENT, h});
        nodes.push(item);
        y += h + (item.indent ? 4 : GAP_Y);
      }
      y += GAP_Y;
    }
    height = Math.max(height, y);
  });
  const width = PAD * 2 + columns.length * (W + GAP_X) - GAP_X;
  const root = svg('svg', {class: 'graph', id: 'stage-graph', width: Math.max(width, 200),
                           height: Math.max(height, 60), role: 'img',
                           'aria-label': 'stage graph'});
  root.append(svg('defs', null, svg('marker', {id: 'arrow', viewBox: '0 0 8 8', refX: 8, refY: 4,
                                              markerWidth: 7, markerHeight: 7, orient: 'auto'},
                                    svg('path', {d: 'M0 0 L8 4 L0 8 z', fill: '#757575'}))));
  for (const s of tops) {
    const to = pos.get(s.id);
    for (const ref of s.requisite_stage_ref_ids || []) {
      const up = byRef.get(ref);
      const from = up && pos.get(up.id);
      if (!from || !to) continue;
      const x1 = from.x + from.w, y1 = from.y + from.h / 2, x2 = to.x, y2 = to.y + to.h / 2;
      const mx = (x1 + x2) / 2;
      root.append(svg('path', {class: 'edge', d: `M${x1} ${y1} C${mx} ${y1} ${mx} ${y2} ${x2} ${y2}`,
                               'marker-end': 'url(#arrow)'}));
    }
  }
  for (const {stage, indent} of nodes) {
    const p = pos.get(stage.id);
    const color = STATUS_COLORS[stage.status] || '#000000';
    const g = svg('g', {class: 'stage' + (stage.id === selectedId ? ' selected' : ''),
                        'data-id': stage.id, 'data-ref': stage.ref_id,
                        'data-status': stage.status, tabindex: 0,
                        transform: `translate(${p.x} ${p.y})`});
    if (indent) {
      const parent = pos.get(stage.parent_stage_id);
      if (parent) {
        const py = parent.y + parent.h / 2 - p.y;
        g.append(svg('path', {class: 'synthetic-link',
                              d: `M-6 ${p.h / 2} H-${INDENT - 2} V${py}`}));
      }
    }
    g.append(
      svg('rect', {width: p.w, height: p.h, rx: 5, fill: '#ffffff', stroke: color,
                   'stroke-width': 2, 'stroke-dasharray': indent ? '4 3' : null}),
      svg('rect', {width: 8, height: p.h, rx: 3, fill: color}),
      svg('text', {x: 14, y: indent ? 17 : 15, class: 'stage-name'},
          clip((indent ? (stage.synthetic_stage_owner === 'STAGE_BEFORE' ? '▸ ' : '◂ ') : '') +
               (stage.name || stage.ref_id), indent ? 20 : 22)),
      indent ? null : svg('text', {x: 14, y: 28, class: 'stage-status', fill: color},
                          stage.status),
      svg('title', null, `${stage.name} (${stage.ref_id}) ${stage.status}`));
    g.addEventListener('click', () => onSelect(stage.id));
    g.addEventListener('keydown', (e) => { if (e.key === 'Enter') onSelect(stage.id); });
    root.append(g);
  }
  return root;
}

function clip(text, n) {
  return text.length > n ? text.slice(0, n - 1) + '…' : text;
}

// ---- the workflow page ----------------------------------------------------------------

class WorkflowView {
  constructor(root, id, at) {
    this.root = root;
    this.id = id;
    this.at = at || '';          // '' = now (following live commits)
    this.points = [];
    this.selected = null;        // the selected stage id
    this.seq = 0;                // the latest draw; older responses are dropped
    this.abort = null;
    this.firstDraw = true;
    this.historyAfter = null;
    this.build();
    this.unsubscribe = live.subscribe((c) => this.onCommit(c));
    this.onSlide = debounce(() => this.goTo(this.sliderLsn()), SLIDER_DEBOUNCE_MS);
    this.init();
  }

  dispose() {
    this.unsubscribe();
    if (this.abort) this.abort.abort();
  }

  build() {
    const section = (id, title, ...body) =>
      el('section', {id, class: 'panel'}, el('h2', null, title), ...body);
    this.header = el('div', {class: 'wf-header', id: 'wf-header'});
    this.slider = el('input', {type: 'range', id: 'asof', min: 0, max: 0, value: 0,
                               'aria-label': 'as of'});
    this.sliderLabel = el('span', {id: 'asof-label', class: 'mono'});
    this.nowButton = el('button', {type: 'button', id: 'asof-now'}, 'Now (live)');
    // While the thumb is held, redraws do not move it.
    this.slider.addEventListener('change', () => { this.sliding = false; });
    this.slider.addEventListener('input', () => {
      this.sliding = true;
      this.sliderLabel.textContent = this.pointText(Number(this.slider.value));
      this.onSlide();
    });
    this.nowButton.addEventListener('click', () => this.goTo(''));
    this.graph = el('div', {class: 'graph-box', id: 'graph'});
    this.stagePanel = el('div', {id: 'stage-detail'});
    this.context = el('div', {id: 'wf-context'});
    this.timeline = el('img', {id: 'timeline', alt: 'timeline of the workflow'});
    this.queue = el('div', {id: 'queue'});
    this.diffBox = el('div', {id: 'diff'});
    this.diffFrom = el('input', {id: 'diff-from', size: 10, placeholder: 'LSN or time'});
    this.diffTo = el('input', {id: 'diff-to', size: 10, placeholder: 'LSN or time'});
    const diffForm = el('form', {class: 'inline', id: 'diff-form'},
      'From ', this.diffFrom, ' to ', this.diffTo, ' ',
      el('button', {type: 'submit'}, 'Diff'));
    for (const input of [this.diffFrom, this.diffTo]) {
      input.addEventListener('input', () => { this.diffAuto = false; });
    }
    diffForm.addEventListener('submit', (e) => {
      e.preventDefault();
      this.diff(this.diffFrom.value.trim(), this.diffTo.value.trim());
    });
    this.historyBody = el('tbody');
    this.historyMore = el('button', {type: 'button', id: 'history-more'}, 'Load more');
    this.historyMore.addEventListener('click', () => this.loadHistory());
    this.error = el('div');
    this.root.append(
      el('p', null, el('a', {href: '#'}, '← all workflows')),
      this.error, this.header,
      el('div', {class: 'asof panel'}, el('label', {for: 'asof'}, 'As of '), this.slider,
         this.sliderLabel, this.nowButton),
      el('div', {class: 'columns'},
         el('div', null,
            section('stages', 'Stages', this.graph, this.stagePanel),
            section('context', 'Workflow context and trigger', this.context),
            section('timeline-panel', 'Timeline', this.timeline),
            section('queue-panel', 'Queue of this workflow (now)', this.queue)),
         el('div', null,
            section('diff-panel', 'Diff between two points', diffForm, this.diffBox),
            section('history', 'History',
                    el('table', {class: 'list history'},
                       el('thead', null, el('tr', null, ['LSN', 'Time', 'Actor', 'Type', 'What changed']
                                                           .map((h) => el('th', null, h)))),
                       this.historyBody),
                    this.historyMore))));
  }

  async init() {
    this.loadPoints();
    this.loadHistory();
    this.loadQueue();
    await this.draw();
  }

  async loadPoints() {
    try {
      const r = await api(wfPath(this.id, '/points'));
      this.points = r.points || [];
    } catch (err) {
      this.points = [];
    }
    this.syncSlider();
    if (this.wf && this.diffAuto !== false) this.diffDefaults(this.wf.as_of_lsn);
  }

  // The slider's stops are the points, plus "now" past the last one.
  syncSlider() {
    this.slider.max = String(this.points.length);
    if (this.points.length) this.slider.dataset.first = String(this.points[0].lsn);
    let index = this.points.length;
    if (this.at) {
      const lsn = Number(this.shownLsn || this.at);
      index = this.points.findIndex((p) => p.lsn >= lsn);
      if (index < 0) index = this.points.length;
    }
    this.slider.value = String(index);
    this.sliderLabel.textContent = this.pointText(index);
  }

  pointText(index) {
    const p = this.points[index];
    const n = this.points.length;
    if (!p) return `now (${n} commit${n === 1 ? '' : 's'})`;
    return `LSN ${p.lsn} · ${fmtTime(p.timestamp)} · ${p.type || ''} · ${p.actor || ''}`;
  }

  sliderLsn() {
    const p = this.points[Number(this.slider.value)];
    return p ? String(p.lsn) : '';
  }

  goTo(at) {
    this.at = at;
    // The address names the point, without a new history entry per step.
    history.replaceState(null, '', wfHref(this.id, at || null));
    this.draw();
  }

  // Reads the workflow as of this.at and redraws everything that depends on it.
  async draw() {
    const seq = ++this.seq;
    if (this.abort) this.abort.abort();
    this.abort = new AbortController();
    this.root.dataset.state = 'loading';
    let wf;
    try {
      wf = await api(wfPath(this.id, query({at: this.at})), this.abort.signal);
    } catch (err) {
      if (err.name === 'AbortError' || seq !== this.seq) return;
      this.error.replaceChildren(errorBox(err));
      this.root.dataset.state = 'error';
      return;
    }
    if (seq !== this.seq) return;
    this.error.replaceChildren();
    this.wf = wf;
    this.shownLsn = wf.as_of_lsn;
    if (!this.sliding) this.syncSlider();
    this.drawHeader(wf);
    this.drawStages(wf);
    this.context.replaceChildren(
      jsonTree(wf.context ?? null, 'context', true),
      jsonTree(wf.trigger ?? null, 'trigger', false));
    this.timeline.src = wfPath(this.id, '/timeline.svg' + query({at: this.at}));
    if (this.diffAuto !== false) this.diffDefaults(wf.as_of_lsn);
    this.markHistory();
    this.root.dataset.state = 'ready';
    this.root.dataset.asOf = String(wf.as_of_lsn);
    if (this.firstDraw) {
      this.firstDraw = false;
      performance.mark('wfstore-workflow-drawn');
    }
  }

  // The diff's points follow the page (the commit before the point shown, and
  // the point) until the user edits them.
  diffDefaults(lsn) {
    let i = this.points.length - 1;
    while (i >= 0 && this.points[i].lsn > lsn) --i;
    this.diffFrom.value = i > 0 ? String(this.points[i - 1].lsn) : '';
    this.diffTo.value = String(lsn);
  }

  drawHeader(wf) {
    document.title = `${wf.name} · wfstore`;
    const dl = el('dl', {class: 'facts'});
    const fact = (k, v) => dl.append(el('dt', null, k), el('dd', null, v));
    fact('Id', el('span', {class: 'mono'}, wf.id));
    fact('Application', wf.application);
    fact('Status', badge(wf.status));
    fact('Started', fmtTime(wf.start_time));
    fact('Ended', fmtTime(wf.end_time));
    fact('As of LSN', el('span', {id: 'as-of-lsn'}, String(wf.as_of_lsn)));
    if (wf.paused) fact('Paused', JSON.stringify(wf.paused));
    if (wf.is_canceled) fact('Canceled by', `${wf.canceled_by || ''} ${wf.cancellation_reason || ''}`);
    this.header.replaceChildren(el('h1', {id: 'wf-name'}, wf.name), dl);
  }

  drawStages(wf) {
    const stages = wf.stages || [];
    if (this.selected && !stages.some((s) => s.id === this.selected)) this.selected = null;
    this.graph.replaceChildren(stageGraph(stages, this.selected, (id) => {
      this.selected = id;
      this.drawStages(this.wf);
    }));
    const table = el('table', {class: 'list', id: 'stage-table'},
      el('thead', null, el('tr', null, ['Stage', 'Ref', 'Status', 'Started', 'Ended', 'Version']
                                         .map((h) => el('th', null, h)))),
      el('tbody', null, stages.map((s) => {
        const tr = el('tr', {'data-id': s.id, class: s.id === this.selected ? 'selected' : null},
          el('td', null, s.parent_stage_id ? '↳ ' : '', s.name),
          el('td', {class: 'mono'}, s.ref_id),
          el('td', null, badge(s.status)),
          timeCell(s.start_time), timeCell(s.end_time),
          el('td', {class: 'num'}, s.version));
        tr.addEventListener('click', () => {
          this.selected = s.id;
          this.drawStages(this.wf);
        });
        return tr;
      })));
    const stage = stages.find((s) => s.id === this.selected);
    this.stagePanel.replaceChildren(table, stage ? this.stageDetail(stage) :
      el('p', {class: 'muted'}, 'Select a stage for its tasks, context and outputs.'));
  }

  stageDetail(s) {
    return el('div', {class: 'stage-detail'},
      el('h3', null, s.name, ' ', badge(s.status)),
      el('table', {class: 'list', id: 'tasks'},
         el('thead', null, el('tr', null, ['Task', 'Class', 'Status', 'Started', 'Ended']
                                            .map((h) => el('th', null, h)))),
         el('tbody', null, (s.tasks || []).map((t) => el('tr', null,
           el('td', null, t.name), el('td', {class: 'mono'}, t.implementing_class),
           el('td', null, badge(t.status)), el('td', {class: 'mono'}, fmtTime(t.start_time)),
           el('td', {class: 'mono'}, fmtTime(t.end_time)))))),
      jsonTree(s.context ?? null, 'context', true),
      jsonTree(s.outputs ?? null, 'outputs', true));
  }

  async loadHistory() {
    if (this.historyLoading) return;
    this.historyLoading = true;
    this.historyMore.disabled = true;
    try {
      await this.loadHistoryPage();
    } finally {
      this.historyLoading = false;
    }
  }

  async loadHistoryPage() {
    let page;
    try {
      page = await api(wfPath(this.id, '/history' + query({after: this.historyAfter,
                                                             limit: HISTORY_PAGE})));
    } catch (err) {
      this.historyBody.append(el('tr', null, el('td', {colspan: 5}, errorBox(err))));
      return;
    }
    for (const e of page.events || []) {
      const tr = el('tr', {'data-lsn': e.lsn},
        el('td', {class: 'num'}, e.lsn),
        el('td', {class: 'mono nowrap', title: fmtTime(e.timestamp)}, fmtTime(e.timestamp).slice(11)),
        el('td', null, (e.audit && e.audit.actor) || ''),
        el('td', null, e.type),
        el('td', null, e.summary || ''));
      tr.addEventListener('click', () => {
        if (tr.nextSibling && tr.nextSibling.classList.contains('payload')) {
          tr.nextSibling.remove();
        } else {
          tr.after(el('tr', {class: 'payload'}, el('td', {colspan: 5}, jsonTree(e, 'event', true))));
        }
      });
      this.historyBody.append(tr);
      this.historyAfter = e.lsn;
    }
    if (page.next_after !== null && page.next_after !== undefined) {
      this.historyAfter = page.next_after;
    }
    this.historyMore.disabled = page.next_after === null || page.next_after === undefined;
    this.historyMore.textContent = this.historyMore.disabled ? 'End of history' : 'Load more';
    this.markHistory();
  }

  // Greys the history after the point shown.
  markHistory() {
    const limit = this.at ? Number(this.shownLsn) : Infinity;
    for (const tr of this.historyBody.children) {
      if (tr.dataset.lsn) tr.classList.toggle('later', Number(tr.dataset.lsn) > limit);
    }
  }

  async loadQueue() {
    let q;
    try {
      q = await api(wfPath(this.id, '/queue'));
    } catch (err) {
      this.queue.replaceChildren(errorBox(err));
      return;
    }
    this.queue.replaceChildren(
      el('h3', null, `Messages (${(q.messages || []).length})`), records(q.messages || []),
      el('h3', null, `Dead letters (${(q.dead_letters || []).length})`), records(q.dead_letters || []));
  }

  async diff(from, to) {
    this.diffBox.replaceChildren(el('p', {class: 'muted'}, 'Loading…'));
    let d;
    try {
      d = await api(wfPath(this.id, '/diff' + query({from, to})));
    } catch (err) {
      this.diffBox.replaceChildren(errorBox(err));
      return;
    }
    const changes = d.changes || [];
    this.diffBox.replaceChildren(
      el('p', null, `${changes.length} change(s) from LSN ${d.from_lsn} to ${d.to_lsn}`),
      el('table', {class: 'list', id: 'diff-table'},
         el('thead', null, el('tr', null, ['Entity', 'Field', 'Before', 'After', 'Event']
                                            .map((h) => el('th', null, h)))),
         el('tbody', null, changes.map((c) => el('tr', null,
           el('td', {class: 'mono'}, `${c.entity.kind}:${c.entity.id}`),
           el('td', null, c.field),
           el('td', {class: 'before', title: fmtValue(c.before)}, fmtValue(c.before, 60)),
           el('td', {class: 'after', title: fmtValue(c.after)}, fmtValue(c.after, 60)),
           el('td', {class: 'cause'},
              el('a', {href: wfHref(this.id, c.lsn)}, `LSN ${c.lsn}`), ' ', c.type,
              ' by ', (c.audit && c.audit.actor) || '?', ' at ', fmtTime(c.timestamp)))))));
  }

  onCommit(c) {
    if (!(c.workflow_ids || []).includes(this.id)) return;
    this.points.push({lsn: c.last_lsn, timestamp: c.timestamp,
                      type: ((c.events || [])[0] || {}).type || '', actor: ''});
    if (!this.at) {
      this.draw();
      this.loadQueue();
    }
    this.syncSlider();
    if (!this.historyLoading) {
      this.historyMore.disabled = false;
      this.historyMore.textContent = 'Load more';
    }
  }
}

// A table of queue records: one column per key of the first records.
function records(list) {
  if (!list.length) return el('p', {class: 'muted'}, 'None.');
  const keys = [...new Set(list.slice(0, 20).flatMap((r) => Object.keys(r)))];
  return el('table', {class: 'list'},
    el('thead', null, el('tr', null, keys.map((k) => el('th', null, k)))),
    el('tbody', null, list.map((r) => el('tr', null,
      keys.map((k) => el('td', {title: fmtValue(r[k])}, fmtValue(r[k], 80)))))));
}

// ---- start ---------------------------------------------------------------------------

async function showStats() {
  try {
    const s = await api('/api/stats');
    document.getElementById('stats').textContent =
        `${s.workflows} workflows · ${s.events} events · applied LSN ${s.applied_lsn}`;
  } catch (err) {
    // the header's figures are optional
  }
}

window.addEventListener('hashchange', render);
live.start();
showStats();
render();
