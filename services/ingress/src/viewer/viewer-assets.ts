import { FINAL_STATES, WAIT_LIMIT_TEXT } from '@agentq/shared';

/**
 * The viewer's stylesheet and script, inlined into the page (no external assets). The script
 * builds every node with createElement/textContent: event data is never parsed as HTML.
 */
export const VIEWER_CSS = `
:root { color-scheme: light dark; --fg: #1f2328; --muted: #656d76; --bg: #ffffff; --panel: #f6f8fa; --border: #d0d7de;
  --ok: #1a7f37; --err: #cf222e; --run: #9a6700; --accent: #0969da; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --muted: #8d96a0; --bg: #0d1117; --panel: #161b22; --border: #30363d;
  --ok: #3fb950; --err: #f85149; --run: #d29922; --accent: #4493f8; } }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
header { position: sticky; top: 0; z-index: 1; background: var(--panel); border-bottom: 1px solid var(--border); padding: 12px 20px; }
header h1 { font-size: 16px; margin: 0 0 4px; font-weight: 600; }
header .meta { color: var(--muted); display: flex; flex-wrap: wrap; gap: 6px 16px; align-items: center; }
main { max-width: 1000px; margin: 0 auto; padding: 16px 20px 60px; }
.prompt { white-space: pre-wrap; background: var(--panel); border: 1px solid var(--border); border-radius: 6px; padding: 10px 12px; margin-bottom: 16px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; border: 1px solid currentColor; font-weight: 600; font-size: 12px; }
.state-succeeded { color: var(--ok); } .state-failed, .state-timed_out { color: var(--err); } .state-canceled { color: var(--muted); }
.state-starting, .state-running, .state-publishing { color: var(--run); } .state-queued { color: var(--accent); }
.entry { display: grid; grid-template-columns: 76px 1fr; gap: 8px; padding: 6px 0; border-bottom: 1px solid var(--border); }
.entry time { color: var(--muted); font-variant-numeric: tabular-nums; font-size: 12px; padding-top: 2px; }
.entry .body { min-width: 0; }
.label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; margin-right: 6px; }
.text { white-space: pre-wrap; overflow-wrap: anywhere; }
pre { margin: 6px 0 0; padding: 8px 10px; background: var(--panel); border: 1px solid var(--border); border-radius: 6px;
  overflow: auto; max-height: 420px; font: 12px/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; white-space: pre-wrap; overflow-wrap: anywhere; }
details > summary { cursor: pointer; }
.tool summary code { font-weight: 600; }
.ok { color: var(--ok); } .err { color: var(--err); }
.result-box { margin-top: 16px; padding: 12px 14px; border: 1px solid var(--border); border-radius: 6px; background: var(--panel); }
.result-box h2 { font-size: 15px; margin: 0 0 6px; }
a { color: var(--accent); }
#conn { font-size: 12px; }
#waiting { color: var(--run); }
.trigger { margin-top: 4px; color: var(--run); overflow-wrap: anywhere; }
`;

/** What the scripts of the web pages share: the final states, and building an element whose content is text. */
export const PAGE_JS_HELPERS = `
  var FINAL = ${JSON.stringify(Object.fromEntries(FINAL_STATES.map((state) => [state, 1])))};
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
`;

export const VIEWER_JS = `
(function () {
  'use strict';
${PAGE_JS_HELPERS}  var task = JSON.parse(document.getElementById('agentq-task').textContent);
  var key = new URLSearchParams(location.search).get('key') || '';
  var lastSeq = 0, done = false, source = null, retryTimer = null, failures = 0;
  var feed = document.getElementById('feed');
  var stateEl = document.getElementById('state');
  var stepEl = document.getElementById('step');
  var connEl = document.getElementById('conn');
  var usageEl = document.getElementById('usage');
  var resultEl = document.getElementById('result');
  var waitingEl = document.getElementById('waiting');
  var LIMITS = ${JSON.stringify(WAIT_LIMIT_TEXT)};
  var state = task.state;
  var calls = {};
  var logPre = null;

  function time(ts) {
    var d = new Date(ts);
    return isNaN(d.getTime()) ? '' : d.toLocaleTimeString();
  }
  function show(value) {
    if (typeof value === 'string') return value;
    try { return JSON.stringify(value, null, 2); } catch (e) { return String(value); }
  }
  function brief(value) {
    var text = typeof value === 'object' && value !== null
      ? (value.command || value.file_path || value.path || value.pattern || value.url || show(value))
      : show(value);
    text = String(text).replace(/\\s+/g, ' ');
    return text.length > 90 ? text.slice(0, 90) + '…' : text;
  }
  function entry(ev, label) {
    var row = el('div', 'entry ' + String(ev.kind).replace(/[^a-z_.]/g, '').replace('.', '-'));
    row.appendChild(el('time', null, time(ev.ts)));
    var body = el('div', 'body');
    if (label) body.appendChild(el('span', 'label', label));
    row.appendChild(body);
    var atBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
    feed.appendChild(row);
    if (atBottom) window.scrollTo(0, document.body.scrollHeight);
    return body;
  }
  function setState(value) {
    state = value;
    stateEl.textContent = value;
    stateEl.className = 'badge state-' + String(value).replace(/[^a-z_]/g, '');
    if (value !== 'queued') setWaiting(null);
  }
  function waitingReason(w) {
    if (w.reason === 'predecessor') return w.on ? 'for task ' + w.on + ' to end' : 'for an earlier task to end';
    var limit = Object.prototype.hasOwnProperty.call(LIMITS, w.reason) ? LIMITS[w.reason] : String(w.reason);
    return limit + (typeof w.position === 'number' ? ' (position ' + w.position + ')' : '');
  }
  function waitingText(w) {
    return (w.reason === 'predecessor' ? 'waiting ' : 'waiting: ') + waitingReason(w);
  }
  // why the task waits, at the top, while it is queued
  function setWaiting(w) {
    waitingEl.textContent = w && state === 'queued' ? waitingText(w) : '';
  }
  function setConn(text) { connEl.textContent = text; }
  function safeHref(url) {
    try { var u = new URL(url); return (u.protocol === 'https:' || u.protocol === 'http:') ? u.href : null; } catch (e) { return null; }
  }
  function resultBox(title) {
    resultEl.hidden = false;
    resultEl.appendChild(el('h2', null, title));
    return resultEl;
  }

  function render(ev) {
    var body, details, summary;
    switch (ev.kind) {
      case 'task.state':
        setState(ev.state);
        body = entry(ev, 'state');
        body.appendChild(el('span', 'badge state-' + String(ev.state).replace(/[^a-z_]/g, ''), ev.state));
        if (ev.error) body.appendChild(el('div', 'text err', (ev.error.code ? ev.error.code + ': ' : '') + (ev.error.message || '')));
        if (FINAL[ev.state]) { done = true; stepEl.textContent = ''; }
        break;
      case 'task.waiting':
        // events the record had seen when the page was made are older than its waiting
        if (ev.seq > task.lastSeq) setWaiting(ev);
        entry(ev, 'waiting').appendChild(el('span', null, waitingReason(ev)));
        break;
      case 'step':
        stepEl.textContent = 'step: ' + ev.step;
        entry(ev, 'step').appendChild(el('span', null, ev.step));
        break;
      case 'agent.init':
        body = entry(ev, 'agent');
        body.appendChild(el('span', null, [ev.harness, ev.model].filter(Boolean).join(' · ') || 'started'));
        break;
      case 'agent.message':
        entry(ev, 'assistant').appendChild(el('div', 'text', ev.text));
        break;
      case 'agent.tool_call':
        body = entry(ev, 'tool');
        details = el('details', 'tool');
        summary = el('summary');
        summary.appendChild(el('code', null, ev.name));
        summary.appendChild(document.createTextNode(' ' + brief(ev.input)));
        details.appendChild(summary);
        details.appendChild(el('pre', null, show(ev.input)));
        body.appendChild(details);
        if (ev.id) calls[ev.id] = { details: details, summary: summary };
        break;
      case 'agent.tool_result':
        var call = ev.id ? calls[ev.id] : null;
        var out = el('pre', ev.ok ? '' : 'err', ev.output + (ev.truncated ? '\\n[output truncated]' : ''));
        if (call) {
          call.summary.appendChild(el('span', ev.ok ? 'ok' : 'err', ev.ok ? '  ✓' : '  ✗ error'));
          call.details.appendChild(out);
        } else {
          details = el('details', 'tool');
          details.appendChild(el('summary', ev.ok ? 'ok' : 'err', ev.ok ? 'tool result' : 'tool error'));
          details.appendChild(out);
          entry(ev, 'tool').appendChild(details);
        }
        break;
      case 'agent.usage':
        var parts = [];
        if (typeof ev.inputTokens === 'number') parts.push(ev.inputTokens + ' in');
        if (typeof ev.outputTokens === 'number') parts.push(ev.outputTokens + ' out');
        var text = parts.length ? 'tokens: ' + parts.join(' / ') : '';
        if (typeof ev.costUsd === 'number') text += (text ? ' · ' : '') + '$' + ev.costUsd.toFixed(4) + ' so far';
        usageEl.textContent = text;
        break;
      case 'agent.result':
        var box = resultBox(ev.success ? 'Agent finished' : 'Agent failed');
        var facts = [];
        if (typeof ev.turns === 'number') facts.push(ev.turns + ' turns');
        if (typeof ev.costUsd === 'number') facts.push('$' + ev.costUsd.toFixed(4));
        if (typeof ev.durationMs === 'number') facts.push(Math.round(ev.durationMs / 1000) + ' s');
        if (facts.length) box.appendChild(el('div', 'label', facts.join(' · ')));
        if (ev.summary) box.appendChild(el('div', 'text', ev.summary));
        break;
      case 'log':
        if (!logPre) {
          details = el('details', 'log');
          details.appendChild(el('summary', null, 'output log'));
          logPre = el('pre');
          details.appendChild(logPre);
          entry(ev, 'log').appendChild(details);
        }
        logPre.appendChild(document.createTextNode((ev.stream === 'system' ? '» ' : '') + ev.text + '\\n'));
        break;
      case 'git':
        body = entry(ev, 'git');
        var line = ev.action + (ev.ok ? '' : ' failed');
        if (ev.branch) line += ' ' + ev.branch;
        if (ev.commit) line += ' @ ' + String(ev.commit).slice(0, 10);
        if (ev.diffStat) line += ' (' + ev.diffStat.files + ' files, +' + ev.diffStat.insertions + ' −' + ev.diffStat.deletions + ')';
        body.appendChild(el('span', ev.ok ? '' : 'err', line));
        if (ev.message) body.appendChild(el('div', 'text', ev.message));
        break;
      case 'pr.opened':
        body = entry(ev, 'pull request');
        var href = safeHref(ev.url);
        if (href) { var a = el('a', null, ev.url); a.href = href; a.rel = 'noopener noreferrer'; body.appendChild(a); }
        else body.appendChild(el('span', null, ev.url));
        break;
      default:
        break;
    }
  }

  function connect() {
    retryTimer = null;
    var url = new URL('../v1/tasks/' + encodeURIComponent(task.id) + '/events', location.href);
    url.searchParams.set('key', key);
    if (lastSeq > 0) url.searchParams.set('after', String(lastSeq));
    source = new EventSource(url.href);
    source.onopen = function () { setConn('live'); };
    source.onmessage = function (message) {
      var ev;
      try { ev = JSON.parse(message.data); } catch (e) { return; }
      if (!ev || typeof ev.seq !== 'number' || ev.seq <= lastSeq) return;
      lastSeq = ev.seq;
      failures = 0;
      render(ev);
      if (done) { source.close(); setConn('finished'); }
    };
    source.onerror = function () {
      if (done) return;
      if (source.readyState === EventSource.CLOSED) {
        failures += 1;
        if (failures > 5 || (FINAL[task.state] && lastSeq === 0)) { setConn('transcript unavailable'); return; }
        setConn('disconnected, retrying…');
        if (!retryTimer) retryTimer = setTimeout(connect, 3000 * failures);
      } else {
        setConn('reconnecting…');
      }
    };
  }
  setState(task.state);
  setWaiting(task.waiting);
  connect();
})();
`;
