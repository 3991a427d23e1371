import { TRIGGER_WORDS } from '@agentq/shared';
import { PAGE_JS_HELPERS } from '../viewer/viewer-assets.js';

/**
 * The task list page's own styles (besides the viewer's) and script. The script keeps the API
 * token in `sessionStorage` only, sends it as `Authorization: Bearer`, never in a URL, and builds
 * every node with createElement/textContent: nothing from a task is parsed as HTML.
 */
export const TASKS_PAGE_CSS = `
header nav { display: flex; flex-wrap: wrap; gap: 8px 16px; align-items: center; justify-content: space-between; }
form.signin { max-width: 420px; margin: 40px auto; padding: 20px; border: 1px solid var(--border); border-radius: 6px; background: var(--panel); }
form.signin h2 { font-size: 16px; margin: 0 0 10px; }
label { display: block; margin-bottom: 6px; color: var(--muted); }
input[type=password] { width: 100%; padding: 6px 8px; margin-bottom: 12px; font: inherit; color: var(--fg); background: var(--bg); border: 1px solid var(--border); border-radius: 6px; }
button { font: inherit; padding: 4px 12px; border-radius: 6px; border: 1px solid var(--border); background: var(--bg); color: var(--fg); cursor: pointer; }
table { width: 100%; border-collapse: collapse; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--border); vertical-align: top; }
th { color: var(--muted); font-weight: 600; font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.prompt { overflow-wrap: anywhere; }
td.repo, td.age { white-space: nowrap; }
td .trigger { font-size: 12px; margin-top: 2px; }
.empty { color: var(--muted); padding: 16px 0; }
#problem { color: var(--err); }
`;

export const TASKS_PAGE_JS = `
(function () {
  'use strict';
${PAGE_JS_HELPERS}  var TOKEN_KEY = 'agentq.apiToken';
  var POLL_LIVE_MS = 3000, POLL_IDLE_MS = 15000;
  var signinForm = document.getElementById('signin');
  var tokenInput = document.getElementById('token');
  var problemEl = document.getElementById('problem');
  var listEl = document.getElementById('list');
  var rowsEl = document.getElementById('rows');
  var emptyEl = document.getElementById('empty');
  var connEl = document.getElementById('conn');
  var signoutBtn = document.getElementById('signout');
  var timer = null, generation = 0;
  var TRIGGERS = ${JSON.stringify(TRIGGER_WORDS)};

  function getToken() { try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch (e) { return ''; } }
  function setToken(value) { try { if (value) sessionStorage.setItem(TOKEN_KEY, value); else sessionStorage.removeItem(TOKEN_KEY); } catch (e) { /* storage off */ } }
  function age(ts) {
    var ms = Date.now() - new Date(ts).getTime();
    if (!isFinite(ms)) return '';
    var s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return s + ' s';
    if (s < 3600) return Math.floor(s / 60) + ' min';
    if (s < 86400) return Math.floor(s / 3600) + ' h';
    return Math.floor(s / 86400) + ' d';
  }
  function cost(task) {
    if (typeof task.costUsd === 'number') return '$' + task.costUsd.toFixed(4);
    if (typeof task.spentUsd === 'number') return '$' + task.spentUsd.toFixed(4) + ' so far';
    return '';
  }
  function firstLine(prompt) {
    var line = String(prompt || '').split('\\n')[0];
    return line.length > 140 ? line.slice(0, 140) + '…' : line;
  }
  // the viewer page of a task, beside this page: its path and the key of its viewer link
  function viewerHref(task) {
    try {
      var key = new URL(task.viewerUrl).searchParams.get('key');
      if (!key) return null;
      var here = location.pathname.replace(/\\/+$/, '');
      return here + '/' + encodeURIComponent(task.id) + '?key=' + encodeURIComponent(key);
    } catch (e) { return null; }
  }
  function safeHref(url) {
    try { var u = new URL(url); return (u.protocol === 'https:' || u.protocol === 'http:') ? u.href : null; } catch (e) { return null; }
  }
  // why an automatic follow-up started: its kind, the attempt, a link to the check or review
  function triggerNode(trigger) {
    if (!trigger || !Object.prototype.hasOwnProperty.call(TRIGGERS, trigger.kind)) return null;
    var words = TRIGGERS[trigger.kind];
    var who = trigger.kind === 'changes_requested' && trigger.reviewer ? ' of @' + trigger.reviewer : '';
    var node = el('div', 'trigger', words.why + who + ' (attempt ' + trigger.attempt + ')');
    var href = safeHref(trigger.url);
    if (href) {
      node.appendChild(document.createTextNode(' · '));
      var a = el('a', null, words.link);
      a.href = href;
      a.rel = 'noopener noreferrer';
      node.appendChild(a);
    }
    return node;
  }
  function stateClass(state) { return 'badge state-' + String(state).replace(/[^a-z_]/g, ''); }

  function render(tasks) {
    var rows = [];
    for (var i = 0; i < tasks.length; i++) {
      var task = tasks[i];
      var tr = el('tr');
      tr.setAttribute('data-task', String(task.id));
      var stateTd = el('td', 'state');
      stateTd.appendChild(el('span', stateClass(task.state), task.state));
      tr.appendChild(stateTd);
      tr.appendChild(el('td', 'repo', task.repo));
      var promptTd = el('td', 'prompt');
      var href = viewerHref(task);
      if (href) { var a = el('a', null, firstLine(task.prompt)); a.href = href; promptTd.appendChild(a); }
      else promptTd.textContent = firstLine(task.prompt);
      var why = triggerNode(task.trigger);
      if (why) promptTd.appendChild(why);
      tr.appendChild(promptTd);
      var ageTd = el('td', 'age', age(task.createdAt));
      ageTd.title = String(task.createdAt);
      tr.appendChild(ageTd);
      tr.appendChild(el('td', 'num cost', cost(task)));
      rows.push(tr);
    }
    rowsEl.replaceChildren.apply(rowsEl, rows);
    emptyEl.hidden = tasks.length > 0;
  }

  function showSignIn(problem) {
    if (timer) { clearTimeout(timer); timer = null; }
    generation += 1;
    listEl.hidden = true;
    signoutBtn.hidden = true;
    rowsEl.replaceChildren();
    signinForm.hidden = false;
    problemEl.textContent = problem || '';
    connEl.textContent = '';
    tokenInput.value = '';
    tokenInput.focus();
  }

  function poll(mine) {
    if (mine !== generation) return;
    var token = getToken();
    if (!token) { showSignIn(); return; }
    var url = new URL('v1/tasks?limit=100', new URL('.', location.href));
    fetch(url.href, { headers: { authorization: 'Bearer ' + token, accept: 'application/json' }, cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer' })
      .then(function (res) {
        if (mine !== generation) return null;
        if (res.status === 401) { setToken(''); showSignIn('That API token was not accepted.'); return null; }
        if (!res.ok) throw new Error('HTTP ' + res.status);
        return res.json();
      })
      .then(function (body) {
        if (!body || mine !== generation) return;
        var tasks = Array.isArray(body.tasks) ? body.tasks : [];
        render(tasks);
        var live = tasks.some(function (t) { return !FINAL[t.state]; });
        connEl.textContent = live ? 'live' : 'up to date';
        timer = setTimeout(function () { poll(mine); }, live ? POLL_LIVE_MS : POLL_IDLE_MS);
      })
      .catch(function () {
        if (mine !== generation) return;
        connEl.textContent = 'cannot reach the server, retrying…';
        timer = setTimeout(function () { poll(mine); }, POLL_LIVE_MS);
      });
  }

  function start() {
    signinForm.hidden = true;
    problemEl.textContent = '';
    listEl.hidden = false;
    signoutBtn.hidden = false;
    connEl.textContent = 'loading…';
    generation += 1;
    poll(generation);
  }

  signinForm.addEventListener('submit', function (event) {
    event.preventDefault();
    var value = tokenInput.value.trim();
    tokenInput.value = '';
    if (!value) return;
    setToken(value);
    start();
  });
  signoutBtn.addEventListener('click', function () {
    setToken('');
    showSignIn();
  });
  if (getToken()) start(); else showSignIn();
})();
`;
