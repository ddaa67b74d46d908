/*
 * console.js - the Ducat admin console (served by ducatd at /admin).
 *
 * The page holds no data. It asks for the operator's credential (their own,
 * from `ducatd operators add NAME`, or the bootstrap admin token; or takes
 * it once from the URL fragment, #token=..., then removes it from the
 * address bar), keeps it in sessionStorage only (this tab, until it closes
 * or the operator signs out), and calls the admin API under /v1/admin with
 * `Authorization: Bearer <credential>`. ducatd records every action under
 * the signed-in operator's name (GET /v1/admin/whoami shows it); the page
 * never sends a name of its own.
 *
 * An investigator's workbench: every account shows as its holder's name,
 * number and verification status, linked to the account's page (balances,
 * holds, cases, events, history); a case page draws the coin's history as
 * SVG from GET /v1/admin/cases/{id}/coin (genesis, splits, hops, the fork,
 * each branch and what its deposits produced) with every record decoded
 * beside its hex; reasons are typed into forms, never window.prompt.
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
    let currency = null; /* {code, exponent} from GET /v1/admin/whoami */
    let utcOffsetMin = 0; /* the deployment's time zone, from the same */
    let operator = null; /* the signed-in operator's name */
    let role = null; /* their role: viewer, operator or admin (GET /v1/admin/whoami) */
    /* Whether the role may act (verify, freeze, resolve...): a viewer gets
     * no action forms, only a note. The server enforces the same rule (403
     * DC_ERR_ADMIN_ROLE); hiding the forms only spares a useless click. */
    function mayAct() {
        return role === 'operator' || role === 'admin';
    }
    function readOnlyNote() {
        return el('p', {class: 'small read-only'}, 'Signed in as a viewer: actions are not offered ' +
            '(an operator or admin may take them).');
    }
    let accounts = new Map(); /* account id -> GET /v1/admin/accounts/{id} (this view) */

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

    /* ms since the epoch -> the deployment's local time with its offset
     * stated, as the CLI writes it: "2026-12-25 00:00 (UTC+08:00)", or
     * "2026-12-24 16:00 UTC" at offset 0 ("-" for 0). The offset is the
     * calendar's (GET /v1/admin/whoami), not the browser's. */
    function when(ms) {
        if (!ms) return '-';
        const d = new Date(ms + utcOffsetMin * 60000);
        if (isNaN(d.getTime())) return String(ms);
        const local = d.toISOString().slice(0, 16).replace('T', ' ');
        if (utcOffsetMin === 0) return local + ' UTC';
        const a = Math.abs(utcOffsetMin);
        const hh = String(Math.floor(a / 60)).padStart(2, '0');
        const mm = String(a % 60).padStart(2, '0');
        return local + ' (UTC' + (utcOffsetMin < 0 ? '-' : '+') + hh + ':' + mm + ')';
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
        operator = null;
        role = null;
        $('whoami').textContent = '';
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

    /* Who is signed in and the currency (for amounts): also proves the
     * credential works. */
    async function loadCurrency() {
        if (currency) return;
        const r = await api('GET', '/v1/admin/whoami');
        currency = r.currency;
        utcOffsetMin = Number.isInteger(r.utc_offset_min) ? r.utc_offset_min : 0;
        operator = r.operator;
        role = r.role;
        $('whoami').textContent = 'Signed in as ' + operator + ' (' + role + ')';
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

    const views = {cases: viewCases, case: viewCase, holds: viewHolds, accounts: viewAccounts,
        account: viewAccount, audit: viewAudit, search: viewSearch};

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
        accounts = new Map(); /* names and balances as of this view */
        run(async () => {
            await loadCurrency();
            await view(p);
        });
    }

    function statusSelect(options, current, onchange) {
        return el('select', {onchange: (ev) => onchange(ev.target.value)},
            options.map(([value, label]) => el('option', {value, selected: value === current}, label)));
    }

    /* ---- Accounts by name ---------------------------------------------- */

    /* The accounts of ids (GET /v1/admin/accounts/{id}, once per view). */
    async function loadAccounts(ids) {
        const want = [...new Set(ids.filter((id) => id && !accounts.has(id)))];
        await Promise.all(want.map(async (id) => {
            try {
                accounts.set(id, await api('GET', `/v1/admin/accounts/${id}`));
            } catch (e) {
                if (!(e instanceof ApiError) || e.status !== 404) throw e;
                accounts.set(id, null);
            }
        }));
    }

    function accountLabel(a, id) {
        if (!a) return 'account ' + id + ' (unknown)';
        if (a.kind !== 'user') return a.kind + ' account ' + a.account;
        return (a.name || '(no name)') + ' · #' + a.account + ' · ' + a.status +
            (a.frozen ? ' · frozen' : '') + (a.debtor ? ' · debtor' : '');
    }

    /* An account as its holder's name, number and status, linked to its
     * page (the ids must have been loaded with loadAccounts). */
    function who(id) {
        if (!id) return el('span', {class: 'who unknown'}, 'unknown');
        const a = accounts.get(id);
        return el('button', {type: 'button', class: 'who link', 'data-account': id,
            'data-verified': a ? String(a.verified) : 'unknown',
            onclick: () => go('account', {id})}, accountLabel(a, id));
    }

    /* A signer or owner of the coin tree: {alias, account, name, status}. */
    function signerText(s) {
        if (!s) return '?';
        const acct = s.account ? ' #' + s.account : ' (alias of no account)';
        return (s.name || 'unknown') + acct + ' · alias ' + s.alias;
    }

    /* ---- Forms --------------------------------------------------------- */

    /* A form with a required reason: onsubmit(reason) runs the action. */
    function reasonForm(id, title, explain, button, cls, required, onsubmit) {
        const reason = el('textarea', {id: id + '-reason', name: 'reason', maxlength: 255,
            required: required || null});
        const form = el('form', {class: 'action', id, onsubmit: (ev) => {
            ev.preventDefault();
            const why = reason.value.trim();
            if (required && !why) {
                show('error', 'A reason is required: ' + title + '.');
                return;
            }
            run(() => onsubmit(why));
        }},
        el('h3', {}, title), el('p', {class: 'small'}, explain),
        el('label', {for: id + '-reason'}, 'Reason' + (required ? ' (required, journaled)' : ' (journaled)')),
        reason,
        el('p', {class: 'small'}, 'Recorded as the operator ' + operator + '.'),
        el('p', {}, el('button', {type: 'submit', class: cls}, button)));
        return form;
    }

    /* ---- Cases -------------------------------------------------------- */

    async function viewCases(p) {
        const status = p.get('status') || 'open';
        const q = status === 'all' ? '' : '?status=' + encodeURIComponent(status);
        const r = await api('GET', '/v1/admin/cases' + q);
        await loadAccounts(r.cases.map((c) => c.culprit_account));
        const rows = r.cases.map((c) => el('tr', {'data-case': c.case},
            el('td', {class: 'num'}, c.case),
            el('td', {class: 'status-' + c.status}, c.status + ' (' + c.phase + ')'),
            el('td', {}, hex(short(c.serial))),
            el('td', {class: 'culprit-account'}, who(c.culprit_account)),
            el('td', {class: 'num'}, money(c.value)),
            el('td', {class: 'num'}, money(c.liability)),
            el('td', {class: 'num'}, money(c.recovered)),
            el('td', {}, when(c.created_at)),
            el('td', {}, c.decision || '-'),
            el('td', {}, link('Open case ' + c.case, 'case', {id: c.case}))));
        $('view').replaceChildren(
            el('h2', {}, 'Fork cases'),
            el('div', {class: 'toolbar'}, 'Show',
                statusSelect([['open', 'open'], ['resolved', 'resolved'], ['all', 'all']], status,
                    (v) => go('cases', {status: v}))),
            rows.length ? table(['case', 'status', 'serial', 'culprit', 'value', 'liability',
                'recovered', 'opened', 'decision', ''], rows)
                : el('p', {}, 'No ' + (status === 'all' ? '' : status + ' ') + 'cases.'));
    }

    function holdRows(holds, withCase) {
        return holds.map((h) => el('tr', {'data-hold': h.hold, 'data-status': h.status},
            el('td', {class: 'num'}, h.hold),
            el('td', {}, who(h.account)),
            el('td', {class: 'num amount'}, money(h.amount)),
            el('td', {class: 'status-' + h.status}, h.status),
            el('td', {}, h.provisional ? 'yes (paid by the loss account)' : 'no'),
            el('td', {class: 'num'}, h.taken ? money(h.taken) : '-'),
            /* a reversed or released credit has no date to wait for; a
             * provisional date is a guess: the calendar does not cover the
             * hold's window yet, nothing releases it until one that does is
             * loaded */
            el('td', {}, h.status === 'held' || h.status === 'frozen'
                ? when(h.release_at) + (h.release_provisional
                    ? ' (provisional: calendar not loaded that far)' : '')
                : h.status + (h.released_by ? ' by ' + h.released_by : '')),
            withCase ? el('td', {}, h.case ? link('case ' + h.case, 'case', {id: h.case}) : '-')
                : null));
    }

    const holdHeaders = ['hold', 'account', 'amount', 'status', 'provisional', 'taken by a case',
        'release date'];

    /* The case's journal: who did what, when and why. */
    function caseEvents(events) {
        return table(['when', 'who', 'what', 'why'], events.map((ev) => el('tr', {class: 'event'},
            el('td', {}, when(ev.time)), el('td', {class: 'actor'}, ev.actor || '-'),
            el('td', {}, ev.action || '-'), el('td', {}, ev.reason || ''))));
    }

    /* ---- The coin's history, drawn ------------------------------------ */

    const SVG = 'http://www.w3.org/2000/svg';

    function svg(tag, attrs, text) {
        const e = document.createElementNS(SVG, tag);
        for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
        if (text !== undefined) e.textContent = text;
        return e;
    }

    /* Lays the tree out left to right: x by depth, y by leaf order (a
     * parent sits at the mean of its children). Every node is a box with
     * its value and owner; every edge carries its record type and signer;
     * the forked state is red and its branches are lettered; each deposit
     * ends in a box naming the depositor and the hold it produced. */
    function drawCoin(coin) {
        const kids = new Map();
        const into = new Map();
        for (const e of coin.edges) {
            if (!kids.has(e.from)) kids.set(e.from, []);
            kids.get(e.from).push(e);
            into.set(e.to, e);
        }
        const nodes = new Map(coin.nodes.map((n) => [n.state, n]));
        const deposits = new Map(coin.deposits.map((d) => [d.state, d]));
        const root = coin.nodes.find((n) => n.genesis);
        const W = 200, H = 74, GX = 70, GY = 22;
        const pos = new Map();
        let leaf = 0;
        function place(state) {
            const out = (kids.get(state) || []).slice().sort((a, b) => a.to < b.to ? -1 : 1);
            let y;
            if (!out.length) {
                y = leaf++;
            } else {
                const ys = out.map((e) => place(e.to));
                y = (Math.min(...ys) + Math.max(...ys)) / 2;
            }
            pos.set(state, y);
            return y;
        }
        if (root) place(root.state);
        const maxDepth = Math.max(0, ...coin.nodes.map((n) => n.depth));
        const width = (maxDepth + 1) * (W + GX) + 20;
        const height = Math.max(1, leaf) * (H + GY) + 20;
        const g = svg('svg', {id: 'coin-drawing', xmlns: SVG, width, height,
            viewBox: `0 0 ${width} ${height}`, role: 'img',
            'aria-label': 'history of coin ' + coin.serial});
        const xy = (n) => [10 + n.depth * (W + GX), 10 + pos.get(n.state) * (H + GY)];
        for (const e of coin.edges) {
            const a = nodes.get(e.from), b = nodes.get(e.to);
            if (!a || !b || !pos.has(a.state) || !pos.has(b.state)) continue;
            const [x1, y1] = xy(a), [x2, y2] = xy(b);
            const fork = !!e.branch;
            g.appendChild(svg('path', {class: 'edge' + (fork ? ' branch' : ''),
                d: `M${x1 + W},${y1 + H / 2} C${x1 + W + GX / 2},${y1 + H / 2} ` +
                   `${x2 - GX / 2},${y2 + H / 2} ${x2},${y2 + H / 2}`,
                fill: 'none', stroke: fork ? '#8a1c1c' : '#2b5573', 'stroke-width': fork ? 3 : 1.5}));
            g.appendChild(svg('text', {x: x2 - GX + 4, y: y2 + H / 2 - 4, 'font-size': 11,
                fill: fork ? '#8a1c1c' : '#333'}, (fork ? e.branch + ': ' : '') + e.type));
        }
        for (const n of coin.nodes) {
            if (!pos.has(n.state)) continue;
            const [x, y] = xy(n);
            const d = deposits.get(n.state);
            const e = into.get(n.state);
            const box = svg('g', {class: 'node' + (n.fork ? ' fork' : '') + (d ? ' deposit' : ''),
                'data-state': n.state});
            box.appendChild(svg('rect', {x, y, width: W, height: H, rx: 4,
                fill: n.fork ? '#fbeaea' : d ? '#eaf6ea' : '#fff',
                stroke: n.fork ? '#8a1c1c' : '#2b5573', 'stroke-width': n.fork ? 3 : 1}));
            const title = n.genesis ? 'genesis · issued ' + money(n.value)
                : d ? 'deposit #' + d.deposit + ' · ' + money(d.amount)
                    : n.fork ? 'FORKED STATE · ' + money(n.value)
                        : (e ? e.type : 'state') + ' · ' + money(n.value);
            box.appendChild(svg('text', {x: x + 6, y: y + 16, 'font-size': 12,
                'font-weight': 'bold'}, title));
            /* the alias and the whole text on hover; the box keeps to names */
            box.appendChild(svg('title', {}, title + '\nowner ' + signerText(n.owner) +
                (e ? '\nsigned by ' + signerText(e.signer) : '')));
            const line2 = d ? 'by ' + (d.by.name || '?') + ' #' + (d.by.account || '?')
                : (n.genesis ? 'to ' : 'owner ') + (n.owner.name || 'unknown') + ' #' +
                    (n.owner.account || '?');
            box.appendChild(svg('text', {x: x + 6, y: y + 32, 'font-size': 10}, line2.slice(0, 38)));
            const line3 = d ? (d.hold ? 'hold #' + d.hold.hold + ' ' + d.hold.status +
                (d.hold.provisional ? ' (provisional)' : '') : 'no hold')
                : e ? 'signed by ' + (e.signer.name || '?') + ' #' + (e.signer.account || '?') : '';
            box.appendChild(svg('text', {x: x + 6, y: y + 48, 'font-size': 10}, line3.slice(0, 38)));
            if (d && d.branch) {
                box.appendChild(svg('text', {x: x + 6, y: y + 64, 'font-size': 10,
                    fill: '#8a1c1c'}, 'branch ' + d.branch));
            } else if (n.fork) {
                box.appendChild(svg('text', {x: x + 6, y: y + 64, 'font-size': 10,
                    fill: '#8a1c1c'}, 'two successors signed by ' + (n.owner.name || '?')));
            }
            g.appendChild(box);
        }
        return g;
    }

    function decodedText(e) {
        const d = e.decoded || {};
        if (e.type === 'transfer') return 'to ' + signerText(d.to) + '; receiver nonce ' + short(d.nonce);
        if (e.type === 'split') {
            return 'into ' + d.values.map((v) => money(v)).join(' + ') + '; continues as part ' + d.part;
        }
        return 'to the issuer for account ' + d.account + ' at ' + when(d.time);
    }

    function recordRows(coin) {
        const edges = coin.edges.slice().sort((a, b) => a.index - b.index ||
            (a.branch || '').localeCompare(b.branch || ''));
        return edges.map((e) => el('tr', {class: 'record', 'data-type': e.type,
            'data-branch': e.branch || null},
        el('td', {class: 'num'}, e.index), el('td', {}, e.branch || ''), el('td', {}, e.type),
        el('td', {}, e.signer.account ? who(e.signer.account) : 'unknown signer',
            el('div', {class: 'small'}, 'alias ' + e.signer.alias)),
        el('td', {class: 'decoded'}, decodedText(e)),
        el('td', {}, el('details', {}, el('summary', {}, e.record.length / 2 + ' bytes'),
            hex(e.record)))));
    }

    function depositRows(coin) {
        return coin.deposits.map((d) => el('tr', {class: 'branch-deposit', 'data-branch': d.branch},
            el('td', {}, d.branch || '(before the fork)'),
            el('td', {class: 'num'}, d.deposit),
            el('td', {}, d.by.account ? who(d.by.account) : 'unknown'),
            el('td', {class: 'num'}, money(d.amount)),
            el('td', {}, d.hold ? 'hold ' + d.hold.hold : '-'),
            el('td', {class: d.hold ? 'status-' + d.hold.status : ''}, d.hold ? d.hold.status : '-'),
            el('td', {}, d.hold && d.hold.provisional ? 'provisional (loss account)' : 'backed'),
            el('td', {class: 'num'}, d.hold && d.hold.taken ? money(d.hold.taken) : '-')));
    }

    async function viewCase(p) {
        const id = p.get('id');
        if (!/^[1-9][0-9]*$/.test(id || '')) throw new Error('no case id in the address');
        const c = await api('GET', `/v1/admin/cases/${id}`);
        const journal = await api('GET', `/v1/admin/cases/${id}/events`);
        const coin = await api('GET', `/v1/admin/cases/${id}/coin`);
        let ev = null;
        let evError = null;
        try {
            ev = await api('GET', `/v1/admin/cases/${id}/evidence`);
        } catch (e) {
            if (!(e instanceof ApiError)) throw e;
            evError = e;
        }
        await loadAccounts([c.culprit_account, ...c.holds.map((h) => h.account),
            ...coin.edges.map((e) => e.signer.account), ...coin.deposits.map((d) => d.by.account)]);
        const parts = [
            el('h2', {'data-case': c.case}, 'Case ' + c.case + ' (' + c.status + ', ' + c.phase + ')'),
            link('Back to the cases', 'cases', {status: c.status}),
            facts([
                ['culprit', who(c.culprit_account), 'culprit-account'],
                ['culprit device', hex(c.culprit)],
                ['coin serial', hex(c.serial)],
                ['forked state', hex(c.state)],
                ['value of the forked state', money(c.value), 'num'],
                ['liability (credited beyond the backed branch)', money(c.liability), 'num liability'],
                ['recovered from the culprit', money(c.recovered), 'num recovered'],
                ['debt still owed', money(c.debt), 'num debt'],
                ['carried by others after a decision', money(c.carried), 'num carried'],
                ['repaid to them since', money(c.repaid), 'num repaid'],
                ['opened', when(c.created_at)],
                ['decided / settled', c.resolved_at ? when(c.resolved_at) : '-'],
                ['decision', c.decision || '-'],
                ['decided by', c.actor || '-', 'actor'],
            ]),
            el('h3', {}, 'The coin\'s history'),
            el('p', {class: 'small'}, 'Every deposited chain of coin ' + short(coin.serial) +
                ', merged by state: from the issuer\'s genesis through each split and hop to the ' +
                'forked state (red) and each branch, ending in the deposits and the credits they ' +
                'produced. Names are the issuer\'s view of the signers\' aliases.'),
            el('div', {class: 'drawing'}, drawCoin(coin)),
            el('h3', {}, 'Records, decoded'),
            table(['#', 'branch', 'type', 'signed by', 'decoded', 'signed record (hex)'],
                recordRows(coin)),
            el('h3', {}, 'What each branch produced'),
            table(['branch', 'deposit', 'depositor', 'amount', 'credit', 'status', 'paid from',
                'taken by the case'], depositRows(coin)),
            el('h3', {}, 'The two signed successors'),
        ];
        if (ev) {
            parts.push(el('p', {class: 'small'}, ev.kind === 'refusal'
                ? 'ducatd verified this evidence with the master public key: the device ' +
                  short(ev.culprit) + ' (alias ' + ev.alias + ') signed A, a refusal of the ' +
                  'payment that made state ' + short(ev.state) + ' its own (after ' +
                  ev.fork_index + ' earlier records), and B, a record handing that state on.'
                : 'ducatd verified this evidence with the master ' +
                  'public key: both records consume state ' + short(ev.state) + ' and are signed ' +
                  'by the device ' + short(ev.culprit) + ' (alias ' + ev.alias + '), after ' +
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
        parts.push(c.holds.length ? table(holdHeaders, holdRows(c.holds, false))
            : el('p', {}, 'No credits descend from the forked state.'));
        parts.push(el('h3', {}, 'Events'));
        parts.push(caseEvents(journal.events));
        /* a decided case waits for recoveries: no second decision */
        if (c.status === 'open' && c.phase === 'recovering') {
            parts.push(mayAct() ? resolveForm(c) : readOnlyNote());
        }
        $('view').replaceChildren(...parts);
    }

    function resolveForm(c) {
        const decision = el('select', {id: 'decision', name: 'decision'},
            el('option', {value: 'honour'}, 'honour: the operator carries the shortfall'),
            el('option', {value: 'reject'}, 'reject: reverse later branches\' credits up to the shortfall'));
        const form = reasonForm('resolve', 'Resolve case ' + c.case,
            'Decides the shortfall still uncovered (' + money(c.debt) + '); later recoveries ' +
            'from the culprit repay whoever carries it.', 'Resolve case ' + c.case, 'danger', true,
            async (why) => {
                await api('POST', `/v1/admin/cases/${c.case}/resolve`,
                    {decision: decision.value, reason: why});
                show('notice', 'Case ' + c.case + ' resolved: ' + decision.value + ' by ' + operator + '.');
                go('case', {id: c.case});
            });
        form.insertBefore(el('label', {for: 'decision'}, 'Decision'), form.children[2]);
        form.insertBefore(decision, form.children[3]);
        return form;
    }

    /* ---- Frozen box --------------------------------------------------- */

    async function viewHolds(p) {
        const status = p.get('status') || 'frozen';
        const after = p.get('after') || '0';
        let q = '?limit=' + PAGE + '&after=' + encodeURIComponent(after);
        if (status !== 'all') q += '&status=' + encodeURIComponent(status);
        const r = await api('GET', '/v1/admin/holds' + q);
        const sum = await api('GET', '/v1/admin/summary');
        await loadAccounts(r.holds.map((h) => h.account));
        const pager = el('div', {class: 'toolbar'},
            after !== '0' ? link('First page', 'holds', {status}) : null,
            r.next !== null ? link('Next page', 'holds', {status, after: r.next}) : null);
        $('view').replaceChildren(
            el('h2', {}, 'Frozen box'),
            facts([
                ['held in the frozen box (all)', money(sum.held), 'num total-held'],
                ['of which frozen by open cases', money(sum.frozen), 'num total-frozen'],
                ['open cases', String(sum.cases_open), 'num'],
                ['exposure of open cases', money(sum.exposure), 'num'],
                ['offline float (coins outstanding)', money(sum.float), 'num'],
            ]),
            el('p', {class: 'small'}, 'Deposited credits wait here: "held" until their release ' +
                'date, "frozen" while a fork case they descend from is open.'),
            el('div', {class: 'toolbar'}, 'Show',
                statusSelect([['frozen', 'frozen'], ['held', 'held'], ['released', 'released'],
                    ['reversed', 'reversed'], ['all', 'all']], status, (v) => go('holds', {status: v}))),
            r.holds.length ? table(holdHeaders.concat(['case']), holdRows(r.holds, true))
                : el('p', {}, 'No ' + (status === 'all' ? '' : status + ' ') + 'credits.'),
            pager);
    }

    /* ---- Accounts ----------------------------------------------------- */

    const accountActions = {
        verify: {path: (id) => `/v1/admin/accounts/${id}/verify`, needsReason: false,
            ask: 'The holder\'s identity was checked: the account may withdraw coins.', cls: 'secondary'},
        freeze: {path: (id) => `/v1/admin/accounts/${id}/freeze`, needsReason: true,
            ask: 'No money moves from or to it until it is unfrozen.', cls: 'danger'},
        unfreeze: {path: (id) => `/v1/admin/accounts/${id}/unfreeze`, needsReason: true,
            ask: 'Money may move again (verification is unchanged).', cls: 'secondary'},
    };

    function accountForm(a, action) {
        const x = accountActions[action];
        const name = action[0].toUpperCase() + action.slice(1);
        return reasonForm(action + '-form', name + ' account ' + a.account, x.ask,
            name + ' ' + (a.name || 'account ' + a.account), x.cls, x.needsReason, async (why) => {
                await api('POST', x.path(a.account), why ? {reason: why} : {});
                show('notice', 'Account ' + a.account + ': ' + action + ' done by ' + operator + '.');
                route();
            });
    }

    async function viewAccounts(p) {
        const status = p.get('status') || 'all';
        const after = p.get('after') || '0';
        let q = '?limit=' + PAGE + '&after=' + encodeURIComponent(after);
        if (status !== 'all') q += '&status=' + encodeURIComponent(status);
        const r = await api('GET', '/v1/admin/accounts' + q);
        const rows = r.accounts.map((a) => el('tr', {'data-account': a.account},
            el('td', {class: 'num'}, a.account),
            el('td', {class: 'name'}, a.kind === 'user' ? a.name || '(no name)' : '(' + a.kind + ')'),
            el('td', {class: 'status-' + a.status},
                a.status + (a.frozen === true && a.status !== 'frozen' ? ' (frozen)' : '') +
                (a.debtor ? ' · debtor' : '')),
            el('td', {class: 'num'}, money(a.available)),
            el('td', {class: 'num'}, money(a.held)),
            el('td', {}, a.offline_blocked ? 'blocked' : 'allowed'),
            el('td', {}, when(a.created_at)),
            el('td', {}, link('Open account ' + a.account, 'account', {id: a.account}))));
        const pager = el('div', {class: 'toolbar'},
            after !== '0' ? link('First page', 'accounts', {status}) : null,
            r.next !== null && r.next !== undefined ? link('Next page', 'accounts', {status, after: r.next}) : null);
        $('view').replaceChildren(
            el('h2', {}, 'Accounts'),
            el('div', {class: 'toolbar'}, 'Show',
                statusSelect([['all', 'all'], ['unverified', 'unverified'], ['verified', 'verified'],
                    ['frozen', 'frozen']], status, (v) => go('accounts', {status: v}))),
            rows.length ? table(['account', 'name', 'status', 'available', 'held', 'offline use',
                'created', ''], rows) : el('p', {}, 'No accounts.'),
            pager);
    }

    async function viewAccount(p) {
        const id = p.get('id');
        if (!/^[1-9][0-9]*$/.test(id || '')) throw new Error('no account id in the address');
        const before = p.get('before');
        const a = await api('GET', `/v1/admin/accounts/${id}`);
        const holds = await api('GET', `/v1/admin/accounts/${id}/holds`);
        const hist = await api('GET', `/v1/admin/accounts/${id}/history?limit=${PAGE}` +
            (before ? '&before=' + encodeURIComponent(before) : ''));
        /* the server picks the account's cases (culprit, or its credits
         * frozen by one): never the whole list */
        const cases = await api('GET', `/v1/admin/cases?account=${id}&limit=200`);
        accounts.set(a.account, a);
        const mine = cases.cases;
        await loadAccounts(hist.entries.map((e) => e.counterparty));
        const parts = [
            el('h2', {'data-account': a.account}, accountLabel(a, a.account)),
            facts([
                ['name', a.name || '-', 'name'],
                ['account', String(a.account), 'num'],
                ['verification', a.verified ? 'verified' : 'unverified', 'status-' + a.status],
                ['frozen by an operator', a.frozen ? 'yes' : 'no'],
                ['debtor of a fork case', a.debtor ? 'yes: sends nothing until repaid' : 'no'],
                ['offline use', a.offline_blocked ? 'blocked (double spend)' : 'allowed'],
                ['national id', a.national_id || '-'],
                ['phone', a.phone || '-'],
                ['device alias', a.alias ? hex(a.alias) : '-'],
                ['device key', a.device_pub ? hex(a.device_pub) : '-'],
                ['available', money(a.available), 'num available'],
                ['held (frozen box)', money(a.held), 'num held'],
                ['offline limit', money(a.offline_limit), 'num'],
                ['opened', when(a.created_at)],
            ]),
        ];
        if (a.kind === 'user' && !mayAct()) {
            parts.push(readOnlyNote());
        } else if (a.kind === 'user') {
            const forms = el('div', {class: 'forms'});
            if (!a.verified) forms.appendChild(accountForm(a, 'verify'));
            forms.appendChild(accountForm(a, a.frozen ? 'unfreeze' : 'freeze'));
            parts.push(forms);
        }
        parts.push(el('h3', {}, 'Credits in the frozen box'));
        parts.push(holds.holds.length ? table(holdHeaders.concat(['case']), holdRows(holds.holds, true))
            : el('p', {}, 'No held credits.'));
        parts.push(el('h3', {}, 'Cases'));
        parts.push(mine.length ? table(['case', 'status', 'role', 'liability', 'recovered', ''],
            mine.map((c) => el('tr', {'data-case': c.case}, el('td', {class: 'num'}, c.case),
                el('td', {class: 'status-' + c.status}, c.status + ' (' + c.phase + ')'),
                el('td', {}, c.culprit_account === a.account ? 'culprit' : 'received a branch'),
                el('td', {class: 'num'}, money(c.liability)), el('td', {class: 'num'}, money(c.recovered)),
                el('td', {}, link('Open case ' + c.case, 'case', {id: c.case})))))
            : el('p', {}, 'No fork cases.'));
        parts.push(el('h3', {}, 'Events'));
        parts.push(a.events.length ? caseEvents(a.events) : el('p', {}, 'No events.'));
        parts.push(el('h3', {}, 'History (journal)'));
        parts.push(hist.entries.length ? table(['posting', 'when', 'kind', 'amount', 'bucket',
            'counterparty', 'ref', 'memo'], hist.entries.map((e) => {
            const other = e.debit === a.account ? e.credit : e.debit;
            const bucket = e.debit === a.account ? e.debit_bucket : e.credit_bucket;
            return el('tr', {class: 'posting'}, el('td', {class: 'num'}, e.id), el('td', {}, when(e.time)),
                el('td', {}, e.kind), el('td', {class: 'num'}, money(e.amount)), el('td', {}, bucket),
                el('td', {}, other === a.account ? '(itself)' : who(other)), el('td', {}, e.ref),
                el('td', {}, e.memo));
        })) : el('p', {}, 'No postings.'));
        parts.push(el('div', {class: 'toolbar'},
            before ? link('Newest', 'account', {id}) : null,
            hist.next_before !== null ? link('Older', 'account', {id, before: hist.next_before}) : null));
        $('view').replaceChildren(...parts);
    }

    /* ---- Search ------------------------------------------------------- */

    /* By account number, case number, name (part of it), device alias
     * (16 hex digits) or coin serial (32 hex digits, or its first digits). */
    /* The server searches (GET /v1/admin/accounts?q= and /v1/admin/cases?q=):
     * an account by number, name prefix (any case), alias or device key
     * prefix; a case by number or coin serial prefix. One page of each, with
     * a link to the next: the console never downloads the whole lists. */
    async function viewSearch(p) {
        const q = (p.get('q') || '').trim();
        const after = p.get('after') || '0';
        const cafter = p.get('cafter') || '0';
        const results = [];
        let next = null;
        if (q) {
            const enc = encodeURIComponent(q);
            const [accts, cases] = await Promise.all([
                api('GET', `/v1/admin/accounts?q=${enc}&limit=${PAGE}&after=${encodeURIComponent(after)}`),
                api('GET', `/v1/admin/cases?q=${enc}&limit=${PAGE}&after=${encodeURIComponent(cafter)}`)]);
            for (const a of accts.accounts) {
                accounts.set(a.account, a);
                const why = a.matched.map((m) => m === 'alias' ? 'alias ' + a.alias
                    : m === 'device' ? 'device key' : m).join(', ');
                results.push(el('tr', {class: 'result', 'data-account': a.account},
                    el('td', {}, 'account'), el('td', {}, who(a.account)), el('td', {}, why)));
            }
            await loadAccounts(cases.cases.map((c) => c.culprit_account));
            for (const c of cases.cases) {
                results.push(el('tr', {class: 'result', 'data-case': c.case},
                    el('td', {}, 'case'), el('td', {}, link('Case ' + c.case + ' (' + c.status + ')',
                        'case', {id: c.case})), el('td', {}, c.matched === 'id' ? 'id'
                        : 'coin ' + c.serial)));
            }
            if (accts.next !== null || cases.next !== null) {
                next = link('Next results', 'search', {q,
                    after: accts.next !== null ? accts.next : Number.MAX_SAFE_INTEGER,
                    cafter: cases.next !== null ? cases.next : Number.MAX_SAFE_INTEGER});
            }
        }
        $('view').replaceChildren(el('h2', {}, 'Search: ' + q),
            results.length ? table(['', 'found', 'matched'], results)
                : el('p', {}, q ? 'Nothing matches.' : 'Type an account or case number, the start ' +
                    'of a name, an alias, a device key or a coin serial.'),
            next || '');
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
        $('search-form').addEventListener('submit', (ev) => {
            ev.preventDefault();
            go('search', {q: $('search').value.trim()});
        });
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
