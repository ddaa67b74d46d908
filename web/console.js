/*
 * console.js - the Ducat admin console (served by ducatd at /admin).
 *
 * The page holds no data. It asks for the admin token (or takes it once
 * from the URL fragment, #token=..., then removes it from the address bar),
 * keeps it in sessionStorage only (this tab, until it closes or the
 * operator signs out), and calls the admin API under /v1/admin with
 * `Authorization: Bearer <token>`. Every view is one or two API calls.
 *
 * Rules: text from the server goes into the page as text nodes only (no
 * HTML parsing), so a name or a reason cannot become markup; the
 * Content-Security-Policy forbids inline script anyway. Amounts are integer
 * minor units and stay integers: formatting inserts the decimal point into
 * the digits, no floating-point arithmetic. The navigation state lives in
 * the fragment (#view=case&id=3), so reloading keeps the view.
 */
'use strict';

(function () {
    const TOKEN_KEY = 'ducat-admin-token';
    const PAGE = 50; /* frozen box rows per page */
    let currency = null; /* {code, exponent} from GET /v1/admin/holds */

    /* ---- DOM helpers ------------------------------------------------- */

    const $ = (id) => document.getElementById(id);

    /* el('td', {class: 'num'}, 'text', childNode, ...): attributes are set
     * with setAttribute; children are nodes or strings (text nodes). */
    function el(tag, attrs, ...children) {
        const e = document.createElement(tag);
        for (const [k, v] of Object.entries(attrs || {})) {
            if (v === undefined || v === null || v === false) continue;
            if (k === 'onclick' || k === 'onsubmit' || k === 'onchange') {
                e.addEventListener(k.slice(2), v);
            } else {
                e.setAttribute(k, v === true ? '' : String(v));
            }
        }
        for (const c of children.flat()) {
            if (c === undefined || c === null) continue;
            e.appendChild(typeof c === 'string' || typeof c === 'number'
                ? document.createTextNode(String(c)) : c);
        }
        return e;
    }

    function table(headers, rows) {
        return el('table', {},
            el('thead', {}, el('tr', {}, headers.map((h) => el('th', {}, h)))),
            el('tbody', {}, rows));
    }

    /* A two-column table of label / value pairs. */
    function facts(pairs) {
        return el('table', {class: 'facts'}, el('tbody', {},
            pairs.map(([k, v, cls]) => el('tr', {}, el('th', {}, k), el('td', {class: cls}, v)))));
    }

    function show(id, text) {
        const box = $(id);
        box.textContent = text || '';
        box.hidden = !text;
    }

    /* ---- Formatting --------------------------------------------------- */

    /* Minor units -> "123.45 CNY" by inserting the point into the digits. */
    function money(minor) {
        if (typeof minor !== 'number' || !Number.isSafeInteger(minor)) {
            return String(minor) + ' (minor units)';
        }
        const exp = currency ? currency.exponent : 0;
        const code = currency ? ' ' + currency.code : ' (minor units)';
        let digits = String(minor < 0 ? -minor : minor);
        if (exp > 0) {
            digits = digits.padStart(exp + 1, '0');
            digits = digits.slice(0, digits.length - exp) + '.' + digits.slice(digits.length - exp);
        }
        return (minor < 0 ? '-' : '') + digits + code;
    }

    /* ms since the epoch -> "2026-12-02 03:20 UTC" ("-" for 0). */
    function when(ms) {
        if (!ms) return '-';
        const d = new Date(ms);
        if (isNaN(d.getTime())) return String(ms);
        return d.toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
    }

    function short(hex) {
        return hex && hex.length > 16 ? hex.slice(0, 16) + '…' : hex || '';
    }

    function hex(text) {
        return el('code', {class: 'hex'}, text);
    }

    /* ---- Token -------------------------------------------------------- */

    function token() {
        return sessionStorage.getItem(TOKEN_KEY);
    }

    function params() {
        return new URLSearchParams(location.hash.replace(/^#/, ''));
    }

    /* #token=... is read once, stored, and removed from the address bar
     * (and so from the history) before anything else happens. */
    function takeTokenFromFragment() {
        const p = params();
        const t = p.get('token');
        if (t === null) return;
        p.delete('token');
        if (t) sessionStorage.setItem(TOKEN_KEY, t);
        const rest = p.toString();
        history.replaceState(null, '', location.pathname + location.search + (rest ? '#' + rest : ''));
    }

    function signOut(message) {
        sessionStorage.removeItem(TOKEN_KEY);
        currency = null;
        $('view').replaceChildren();
        $('nav').hidden = true;
        $('login').hidden = false;
        $('token').value = '';
        show('notice', '');
        show('error', message || '');
    }

    /* ---- API ---------------------------------------------------------- */

    class ApiError extends Error {
        constructor(status, name, code, hint, detail) {
            super(name + (detail ? ': ' + detail : ''));
            this.status = status;
            this.name = name;
            this.code = code;
            this.hint = hint;
            this.detail = detail;
        }

        describe() {
            const code = this.code ? ' (' + this.code + ')' : '';
            const head = 'HTTP ' + this.status + ' ' + this.name + code;
            return head + (this.hint ? ': ' + this.hint : '') + (this.detail ? ' — ' + this.detail : '');
        }
    }

    /* Calls the admin API; resolves to the JSON answer or throws ApiError
     * with the error's name, code, hint and detail. */
    async function api(method, path, body) {
        const headers = {'Authorization': 'Bearer ' + token()};
        const init = {method, headers, cache: 'no-store', credentials: 'omit', redirect: 'error'};
        if (body !== undefined) {
            headers['Content-Type'] = 'application/json';
            init.body = JSON.stringify(body);
        }
        let resp;
        try {
            resp = await fetch(path, init);
        } catch (e) {
            throw new ApiError(0, 'NETWORK', 0, 'cannot reach ducatd', String(e));
        }
        let data = null;
        try {
            data = await resp.json();
        } catch (e) {
            data = null;
        }
        if (!resp.ok) {
            const d = data || {};
            throw new ApiError(resp.status, d.name || 'HTTP_' + resp.status, d.code || 0,
                d.hint || resp.statusText, d.detail || '');
        }
        return data;
    }

    /* Runs a view: clears messages, renders, reports errors; a refused token
     * sends the operator back to the sign-in form. */
    async function run(render) {
        show('error', '');
        try {
            await render();
        } catch (e) {
            if (e instanceof ApiError && e.name === 'DC_ERR_ADMIN_AUTH') {
                signOut('The token was refused: ' + e.describe());
            } else {
                show('error', e instanceof ApiError ? e.describe() : 'Console error: ' + e);
            }
        }
    }

    /* The currency (for amounts) comes with the frozen box listing, which
     * also proves the token works. */
    async function loadCurrency() {
        if (currency) return;
        const r = await api('GET', '/v1/admin/holds?limit=1');
        currency = r.currency;
    }

    /* ---- Navigation --------------------------------------------------- */

    function go(view, extra) {
        const p = new URLSearchParams(Object.assign({view}, extra || {}));
        if (location.hash.replace(/^#/, '') === p.toString()) {
            route();
        } else {
            location.hash = p.toString();
        }
    }

    function link(text, view, extra) {
        return el('button', {type: 'button', class: 'secondary', onclick: () => go(view, extra)}, text);
    }

    const views = {cases: viewCases, case: viewCase, holds: viewHolds, accounts: viewAccounts, audit: viewAudit};

    function route() {
        if (!token()) {
            signOut('');
            return;
        }
        $('login').hidden = true;
        $('nav').hidden = false;
        const p = params();
        /* own keys only: #view=constructor must not pick Object */
        const name = p.get('view');
        const view = name !== null && Object.hasOwn(views, name) ? views[name] : viewCases;
        run(async () => {
            await loadCurrency();
            await view(p);
        });
    }

    function statusSelect(options, current, onchange) {
        return el('select', {onchange: (ev) => onchange(ev.target.value)},
            options.map(([value, label]) => el('option', {value, selected: value === current}, label)));
    }

    /* ---- Cases -------------------------------------------------------- */

    async function viewCases(p) {
        const status = p.get('status') || 'open';
        const q = status === 'all' ? '' : '?status=' + encodeURIComponent(status);
        const r = await api('GET', '/v1/admin/cases' + q);
        const rows = r.cases.map((c) => el('tr', {'data-case': c.case},
            el('td', {class: 'num'}, c.case),
            el('td', {class: 'status-' + c.status}, c.status),
            el('td', {}, hex(short(c.serial))),
            el('td', {class: 'num culprit-account'}, c.culprit_account || 'unknown'),
            el('td', {class: 'num'}, money(c.value)),
            el('td', {class: 'num'}, money(c.exposure)),
            el('td', {}, when(c.created_at)),
            el('td', {}, c.decision || '-'),
            el('td', {}, link('Open case ' + c.case, 'case', {id: c.case}))));
        $('view').replaceChildren(
            el('h2', {}, 'Fork cases'),
            el('div', {class: 'toolbar'}, 'Show',
                statusSelect([['open', 'open'], ['resolved', 'resolved'], ['all', 'all']], status,
                    (v) => go('cases', {status: v}))),
            rows.length ? table(['case', 'status', 'serial', 'culprit account', 'value', 'exposure',
                'opened', 'decision', ''], rows)
                : el('p', {}, 'No ' + (status === 'all' ? '' : status + ' ') + 'cases.'));
    }

    function holdRows(holds) {
        return holds.map((h) => el('tr', {'data-hold': h.hold, 'data-status': h.status},
            el('td', {class: 'num'}, h.hold),
            el('td', {class: 'num'}, h.account),
            el('td', {class: 'num amount'}, money(h.amount)),
            el('td', {class: 'status-' + h.status}, h.status),
            el('td', {}, h.provisional ? 'yes (paid by the loss account)' : 'no'),
            /* a guessed date: the calendar does not cover the hold's window yet;
             * nothing releases it until a calendar that does is loaded */
            el('td', {}, h.release_provisional
                ? when(h.release_at) + ' (provisional: calendar not loaded that far)'
                : when(h.release_at)),
            h.case !== undefined ? el('td', {}, h.case ? link('case ' + h.case, 'case', {id: h.case}) : '-')
                : null));
    }

    /* The case's journal: who did what, when and why. */
    function caseEvents(events) {
        return table(['when', 'who', 'what', 'why'], events.map((ev) => el('tr', {class: 'event'},
            el('td', {}, when(ev.time)), el('td', {}, ev.actor || '-'), el('td', {}, ev.action || '-'),
            el('td', {}, ev.reason || ''))));
    }

    async function viewCase(p) {
        const id = p.get('id');
        if (!/^[1-9][0-9]*$/.test(id || '')) throw new Error('no case id in the address');
        const c = await api('GET', `/v1/admin/cases/${id}`);
        const journal = await api('GET', `/v1/admin/cases/${id}/events`);
        let ev = null;
        let evError = null;
        try {
            ev = await api('GET', `/v1/admin/cases/${id}/evidence`);
        } catch (e) {
            if (!(e instanceof ApiError)) throw e;
            evError = e;
        }
        const parts = [
            el('h2', {'data-case': c.case}, 'Case ' + c.case + ' (' + c.status + ')'),
            link('Back to the cases', 'cases', {status: c.status}),
            facts([
                ['serial', hex(c.serial)],
                ['forked state', hex(c.state)],
                ['culprit device', hex(c.culprit)],
                ['culprit account', c.culprit_account ? String(c.culprit_account) : 'unknown alias',
                    'culprit-account'],
                ['value of the forked state', money(c.value), 'num'],
                ['exposure (provisional credits at risk)', money(c.exposure), 'num'],
                ['opened', when(c.created_at)],
                ['decision', c.decision || '-'],
            ]),
            el('h3', {}, 'The two signed successors'),
        ];
        if (ev) {
            parts.push(el('p', {class: 'small'}, 'ducatd verified this evidence with the master ' +
                'public key: both records consume state ' + short(ev.state) + ' and are signed by ' +
                'the device ' + short(ev.culprit) + ' (alias ' + ev.alias + '), after ' +
                ev.fork_index + ' earlier records.'));
            parts.push(table(['', 'type', 'bytes', 'signed record (hex)'], ev.successors.map((s, i) =>
                el('tr', {class: 'successor'}, el('td', {}, i ? 'B' : 'A'), el('td', {}, s.type),
                    el('td', {class: 'num'}, s.bytes), el('td', {}, hex(s.record))))));
        } else {
            parts.push(el('p', {class: 'error'}, 'Evidence: ' + evError.describe()));
        }
        parts.push(el('h3', {}, 'Evidence package (text armor, verifiable offline)'));
        parts.push(el('textarea', {class: 'armor', readonly: true}, c.evidence_armor || ''));
        parts.push(el('h3', {}, 'Credits held for this case'));
        parts.push(c.holds.length
            ? table(['hold', 'account', 'amount', 'status', 'provisional', 'release date'], holdRows(c.holds))
            : el('p', {}, 'No credits descend from the forked state.'));
        parts.push(el('h3', {}, 'Events'));
        parts.push(caseEvents(journal.events));
        if (c.status === 'open') parts.push(resolveForm(c));
        $('view').replaceChildren(...parts);
    }

    function resolveForm(c) {
        const decision = el('select', {id: 'decision', name: 'decision'},
            el('option', {value: 'honour'}, 'honour: provisional credits stand (the loss account carries them)'),
            el('option', {value: 'reject'}, 'reject: reverse the provisional credits to the loss account'));
        const reason = el('textarea', {id: 'reason', name: 'reason', required: true, maxlength: 255});
        const actor = el('input', {id: 'actor', name: 'actor', maxlength: 63, value: 'console'});
        const form = el('form', {class: 'resolve', onsubmit: (ev) => {
            ev.preventDefault();
            const why = reason.value.trim();
            if (!why) {
                show('error', 'A reason is required to resolve a case.');
                return;
            }
            run(async () => {
                const body = {decision: decision.value, reason: why};
                if (actor.value.trim()) body.actor = actor.value.trim();
                await api('POST', `/v1/admin/cases/${c.case}/resolve`, body);
                show('notice', 'Case ' + c.case + ' resolved: ' + decision.value + '.');
                go('case', {id: c.case});
            });
        }},
        el('h3', {}, 'Resolve'),
        el('label', {for: 'decision'}, 'Decision'), decision,
        el('label', {for: 'reason'}, 'Reason (required, journaled)'), reason,
        el('label', {for: 'actor'}, 'Who decides'), actor,
        el('p', {}, el('button', {type: 'submit', class: 'danger'}, 'Resolve case ' + c.case)));
        return form;
    }

    /* ---- Frozen box --------------------------------------------------- */

    async function viewHolds(p) {
        const status = p.get('status') || 'frozen';
        const after = p.get('after') || '0';
        let q = '?limit=' + PAGE + '&after=' + encodeURIComponent(after);
        if (status !== 'all') q += '&status=' + encodeURIComponent(status);
        const r = await api('GET', '/v1/admin/holds' + q);
        const pager = el('div', {class: 'toolbar'},
            after !== '0' ? link('First page', 'holds', {status}) : null,
            r.next !== null ? link('Next page', 'holds', {status, after: r.next}) : null);
        $('view').replaceChildren(
            el('h2', {}, 'Frozen box'),
            el('p', {class: 'small'}, 'Deposited credits wait here: "held" until their release ' +
                'date, "frozen" while a fork case they descend from is open.'),
            el('div', {class: 'toolbar'}, 'Show',
                statusSelect([['frozen', 'frozen'], ['held', 'held'], ['released', 'released'],
                    ['reversed', 'reversed'], ['all', 'all']], status, (v) => go('holds', {status: v}))),
            r.holds.length
                ? table(['hold', 'account', 'amount', 'status', 'provisional', 'release date', 'case'],
                    holdRows(r.holds))
                : el('p', {}, 'No ' + (status === 'all' ? '' : status + ' ') + 'credits.'),
            pager);
    }

    /* ---- Accounts ----------------------------------------------------- */

    const accountActions = {
        verify: {path: (id) => `/v1/admin/accounts/${id}/verify`, needsReason: false,
            ask: 'the holder\'s identity was checked'},
        freeze: {path: (id) => `/v1/admin/accounts/${id}/freeze`, needsReason: true,
            ask: 'no money moves from or to it until it is unfrozen'},
        unfreeze: {path: (id) => `/v1/admin/accounts/${id}/unfreeze`, needsReason: true,
            ask: 'money may move again (verification is unchanged)'},
    };

    /* Verify, freeze or unfreeze an account with the operator's reason
     * (required to freeze and unfreeze; ducatd records it as an event). */
    async function accountAction(id, action) {
        const a = accountActions[action];
        const reason = window.prompt(action + ' account ' + id + ': ' + a.ask + '. Reason' +
            (a.needsReason ? ' (required)' : '') + ':', '');
        if (reason === null) return;
        if (a.needsReason && !reason.trim()) {
            show('error', 'A reason is required to ' + action + ' an account.');
            return;
        }
        await run(async () => {
            await api('POST', a.path(id), reason.trim() ? {reason: reason.trim()} : {});
            show('notice', 'Account ' + id + ': ' + action + ' done.');
            route();
        });
    }

    function accountButton(id, action, cls) {
        return el('button', {type: 'button', class: cls, onclick: () => accountAction(id, action)},
            action[0].toUpperCase() + action.slice(1));
    }

    async function viewAccounts(p) {
        const status = p.get('status') || 'all';
        const q = status === 'all' ? '' : '?status=' + encodeURIComponent(status);
        const r = await api('GET', '/v1/admin/accounts' + q);
        const rows = r.accounts.map((a) => el('tr', {'data-account': a.account},
            el('td', {class: 'num'}, a.account),
            el('td', {}, a.kind),
            el('td', {class: 'status-' + a.status},
                a.status + (a.frozen === true && a.status !== 'frozen' ? ' (frozen)' : '')),
            el('td', {class: 'num'}, money(a.available)),
            el('td', {class: 'num'}, money(a.held)),
            el('td', {}, a.offline_blocked ? 'blocked' : 'allowed'),
            el('td', {}, when(a.created_at)),
            el('td', {}, a.kind !== 'user' ? '' : [
                a.verified === false || a.status === 'unverified'
                    ? accountButton(a.account, 'verify', 'secondary') : null, ' ',
                a.frozen === true ? accountButton(a.account, 'unfreeze', 'secondary')
                    : accountButton(a.account, 'freeze', 'danger')])));
        $('view').replaceChildren(
            el('h2', {}, 'Accounts'),
            el('div', {class: 'toolbar'}, 'Show',
                statusSelect([['all', 'all'], ['unverified', 'unverified'], ['verified', 'verified'],
                    ['frozen', 'frozen']], status, (v) => go('accounts', {status: v}))),
            rows.length ? table(['account', 'kind', 'status', 'available', 'held', 'offline use',
                'created', ''], rows) : el('p', {}, 'No accounts.'));
    }

    /* ---- Audit -------------------------------------------------------- */

    async function viewAudit() {
        const r = await api('GET', '/v1/admin/audit');
        $('view').replaceChildren(
            el('h2', {}, 'Audit'),
            el('p', {class: r.ok ? 'notice' : 'error'}, r.ok
                ? 'The ledger balances: every check passed.'
                : 'The audit found a discrepancy: see the report.'),
            link('Run again', 'audit'),
            el('pre', {}, r.report));
    }

    /* ---- Start -------------------------------------------------------- */

    function start() {
        takeTokenFromFragment();
        /* the address as it stays in the history: never with the token */
        console.info('ducat console at ' + location.href);
        $('login-form').addEventListener('submit', (ev) => {
            ev.preventDefault();
            const t = $('token').value.trim();
            if (!t) return;
            sessionStorage.setItem(TOKEN_KEY, t);
            $('token').value = '';
            route();
        });
        $('signout').addEventListener('click', () => signOut(''));
        for (const b of document.querySelectorAll('nav button[data-view]')) {
            b.addEventListener('click', () => go(b.getAttribute('data-view')));
        }
        window.addEventListener('hashchange', () => {
            takeTokenFromFragment();
            show('notice', '');
            route();
        });
        route();
    }

    start();
}());
