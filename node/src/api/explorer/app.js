/* ChainCore block explorer (app.js).
 *
 * Talks to the node's REST API (docs/api.md) on the same origin and renders the header
 * status line, recent blocks, mempool, peers, a fork view (SVG from /blocks/tree), a live
 * event log fed by /events (Server-Sent Events, with /status polling while the stream is
 * down) and hash-routed pages: #/block/{hash}, #/tx/{txid}, #/address/{addr}.
 *
 * What it must not do: put network strings into innerHTML (everything goes through
 * textContent and attributes), let one failed request break the page (each failure is a
 * small notice), or depend on anything outside these three files.
 */
'use strict';

(() => {
  /** How many rows to show, and how long to wait for what (milliseconds). */
  const LIMIT = { recent: 10, mempool: 20, events: 20, blockTxs: 100, history: 25, utxos: 100, notices: 4 };
  const MS = { poll: 5000, peers: 30000, reconnect: 10000, fetch: 8000, notice: 6000 };
  const UNITS_PER_COIN = 100000000n;
  const HASH_RE = /^[0-9a-f]{64}$/;
  const BASE58_RE = /^[1-9A-HJ-NP-Za-km-z]{20,64}$/;
  // Events after which everything chain-related is refetched; `lagged` (the server's "you
  // missed N events") included.
  const CHAIN_EVENTS = new Set(['block_connected', 'block_disconnected', 'reorg', 'lagged']);

  const state = { live: null, pollTimer: null, tipHash: null, pending: null, uptime: null, route: null, tree: null, network: null };

  // ---------------------------------------------------------------- DOM helpers
  const $ = (id) => document.getElementById(id);

  /** Sets attributes; a function value becomes an event listener (`onclick` → click). */
  function setAttrs(el, attrs) {
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value == null || value === false) continue;
      if (typeof value === 'function') el.addEventListener(key.replace(/^on/, ''), value);
      else el.setAttribute(key, value === true ? '' : String(value));
    }
  }

  /** Appends children; strings and numbers become text nodes, never markup. */
  function append(el, children) {
    for (const child of children.flat(Infinity)) {
      if (child == null || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  const h = (tag, attrs, ...kids) => build(document.createElement(tag), attrs, kids);
  const s = (tag, attrs, ...kids) => build(document.createElementNS('http://www.w3.org/2000/svg', tag), attrs, kids);
  function build(el, attrs, kids) { setAttrs(el, attrs); return append(el, kids); }

  const setText = (id, value) => { if (value != null) $(id).textContent = String(value); };

  /** A table row: plain cells become <td>; `right(v)` makes a right-aligned numeric cell. */
  const right = (v) => h('td', { class: 'num' }, v);
  const tr = (attrs, ...cells) =>
    h('tr', attrs, cells.map((c) => (c instanceof HTMLTableCellElement ? c : h('td', {}, c))));

  const table = (headers, rows) =>
    h('table', {}, h('thead', {}, h('tr', {}, headers.map((t) => h('th', {}, t)))), h('tbody', {}, rows));

  /** Fills a tbody, or shows one muted row saying it is empty. */
  function fillBody(tbody, rows, emptyText, columns) {
    if (rows.length || !emptyText) tbody.replaceChildren(...rows);
    else tbody.replaceChildren(h('tr', { class: 'empty' }, h('td', { colspan: columns }, emptyText)));
  }

  /** A definition list of [label, value] pairs; a missing value shows as a dash. */
  const facts = (pairs) =>
    h('dl', { class: 'facts' }, pairs.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v ?? '—')]));

  const badge = (text) => h('span', { class: `badge ${text}` }, text ?? 'unknown');
  const mono = (text) => (text == null ? null : h('span', { class: 'mono wrap' }, text));

  // ---------------------------------------------------------------- formatting
  const short = (id) =>
    (typeof id === 'string' && id.length > 20 ? `${id.slice(0, 8)}…${id.slice(-8)}` : String(id ?? '—'));
  const digits = (n) => (Number.isInteger(n) && n >= 0 ? String(n) : null);
  const num = (n) => (typeof n === 'number' && Number.isFinite(n) ? n.toLocaleString('en-US') : n ?? '—');
  const bytes = (n) => (Number.isFinite(n) ? `${num(n)} B` : '—');

  /** Coins from integer base units, exact (BigInt); falls back to the decimal coin field. */
  function coins(units, fallback) {
    try {
      const u = BigInt(units);
      const abs = u < 0n ? -u : u;
      const frac = (abs % UNITS_PER_COIN).toString().padStart(8, '0');
      return `${u < 0n ? '-' : ''}${(abs / UNITS_PER_COIN).toLocaleString('en-US')}.${frac}`;
    } catch {
      return typeof fallback === 'number' ? fallback.toFixed(8) : '—';
    }
  }

  /** The two largest units of a span of seconds: "3d 4h", "5m 2s". */
  function duration(seconds) {
    const t = Math.max(0, Math.floor(seconds));
    const [d, hr, m, sec] = [t / 86400, (t % 86400) / 3600, (t % 3600) / 60, t % 60].map(Math.floor);
    if (d) return `${d}d ${hr}h`;
    if (hr) return `${hr}h ${m}m`;
    return m ? `${m}m ${sec}s` : `${sec}s`;
  }

  const utc = (t) =>
    (Number.isFinite(t) ? `${new Date(t * 1000).toISOString().slice(0, 19).replace('T', ' ')} UTC` : '—');
  const ago = (t) => (Number.isFinite(t) ? `${duration(Date.now() / 1000 - t)} ago` : '—');

  // ---------------------------------------------------------------- links and routes
  function link(kind, id, label) {
    if (typeof id !== 'string' || !id) return '—';
    return h('a', { href: `#/${kind}/${encodeURIComponent(id)}`, class: 'mono', title: id }, label ?? short(id));
  }
  const blockLink = (hash, label) => link('block', hash, label);
  const txLink = (txid, label) => link('tx', txid, label);
  const addrLink = (addr, label) => link('address', addr, label);
  const go = (kind, id) => { location.hash = `#/${kind}/${encodeURIComponent(id)}`; };

  function parseRoute(hash) {
    const m = /^#\/(block|tx|address)\/(.+)$/.exec(hash);
    try { return m ? { kind: m[1], arg: decodeURIComponent(m[2]) } : null; } catch { return null; } // bad %-escape
  }

  // ---------------------------------------------------------------- fetching and notices
  /** An Error carrying the HTTP status (0 for a network failure or timeout). */
  const apiError = (path, status, detail) =>
    Object.assign(new Error(`${path}: ${status ? `${status} ` : ''}${detail}`), { status });

  /** Fetches a path as 'json' or 'text' (GET, or `init`'s method); a non-2xx answer throws
   * with the API's `error`. */
  async function fetchAs(path, kind, init) {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), MS.fetch);
    try {
      const res = await fetch(path, { ...init, signal: abort.signal, cache: 'no-store' }).catch((err) => {
        throw apiError(path, 0, err.name === 'AbortError' ? 'timed out' : 'network error');
      });
      if (!res.ok) {
        const body = await res.json().catch(() => ({}));
        throw apiError(path, res.status, String(body.error || body.reason || res.statusText || 'error'));
      }
      const read = kind === 'text' ? res.text() : res.json();
      return await read.catch(() => { throw apiError(path, res.status, 'unreadable answer'); });
    } finally {
      clearTimeout(timer);
    }
  }
  const getJSON = (path) => fetchAs(path, 'json');
  const postJSON = (path, body) => fetchAs(path, 'json', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  });

  /** Tickets drop stale responses: only the newest request of a kind may render. */
  const seq = Object.create(null);
  function ticket(kind) {
    const n = (seq[kind] = (seq[kind] || 0) + 1);
    return () => seq[kind] === n;
  }

  /** GETs JSON for a panel; null when a newer request for that panel overtook this one. */
  function latest(kind, path) {
    const fresh = ticket(kind);
    return getJSON(path).then((data) => (fresh() ? data : null));
  }

  /** Shows a small dismissable notice; repeats of the same message refresh one notice. */
  function notice(message) {
    const box = $('notices');
    let item = [...box.children].find((n) => n.dataset.msg === message);
    if (!item) {
      item = h('div', { class: 'notice', 'data-msg': message }, h('span', {}, message),
        h('button', { type: 'button', 'aria-label': 'dismiss', onclick: () => item.remove() }, '×'));
      box.prepend(item);
    }
    clearTimeout(item.timer);
    item.timer = setTimeout(() => item.remove(), MS.notice);
    while (box.children.length > LIMIT.notices) box.lastElementChild.remove();
  }

  const failed = (what) => (err) => notice(`${what} failed: ${err.message}`);

  /** Runs fn once after ms, however many times it is asked for meanwhile. */
  const scheduled = Object.create(null);
  function schedule(kind, fn, ms) {
    if (scheduled[kind]) return;
    scheduled[kind] = setTimeout(() => { scheduled[kind] = null; fn(); }, ms);
  }

  // ---------------------------------------------------------------- header
  function setTip(height, hash) {
    setText('height', digits(height));
    if (typeof hash !== 'string') return;
    state.tipHash = hash;
    Object.assign($('tip-hash'), { textContent: hash, title: hash, href: `#/block/${hash}` });
  }

  async function loadStatus() {
    const st = await latest('status', '/status');
    if (!st) return null;
    setText('node-id', st.node_id == null ? null : short(String(st.node_id)));
    $('node-id').title = String(st.node_id ?? '');
    setText('network', st.network);
    state.network = st.network;
    setTip(st.height, st.best_block_hash);
    setText('peer-count', digits(st.active_peers ?? (Array.isArray(st.peers) ? st.peers.length : null)));
    setText('mempool-count', digits(st.pending_transactions));
    state.pending = st.pending_transactions;
    if (Number.isFinite(st.uptime)) state.uptime = { base: st.uptime, at: Date.now() };
    renderUptime();
    renderAssumeValid(st.assume_valid);
    return st;
  }

  /** With --assume-valid: how many blocks were connected without checking their signatures. */
  function renderAssumeValid(av) {
    $('assume-valid-stat').hidden = !av;
    if (!av) return;
    setText('assume-valid', `${digits(av.blocks_assumed)} assumed valid`);
    $('assume-valid').title = `--assume-valid ${String(av.hash)}: it and its ancestors connect without signature checks`;
  }

  function renderUptime() {
    if (state.uptime) setText('uptime', duration(state.uptime.base + (Date.now() - state.uptime.at) / 1000));
  }

  // ---------------------------------------------------------------- home panels
  async function loadRecent() {
    const data = await latest('recent', `/blocks/recent?limit=${LIMIT.recent}`);
    if (!data) return;
    $('recent-blocks').replaceChildren(...(data.blocks || []).map((b) =>
      tr({ 'data-hash': b.hash, 'data-height': b.height },
        right(blockLink(b.hash, String(b.height))), blockLink(b.hash), ago(b.time),
        right(num(b.tx_count)), right(bytes(b.size)), addrLink(b.miner_address))));
  }

  async function loadMempool() {
    const pool = await latest('mempool', '/transaction_pool');
    if (!pool) return;
    const txs = (pool.transactions || []).slice(0, LIMIT.mempool);
    setText('mempool-count', digits(pool.count));
    state.pending = pool.count;
    setText('mempool-summary', `top ${txs.length} of ${num(pool.count)} · ${bytes(pool.bytes)}`);
    const rows = txs.map((t) =>
      tr({ 'data-txid': t.txid }, txLink(t.txid), right(coins(t.fee_units, t.fee)),
        right(Number.isFinite(t.fee_rate) ? t.fee_rate.toFixed(2) : '—'), right(bytes(t.size)), ago(t.time_added)));
    fillBody($('mempool-list'), rows, 'mempool is empty', 5);
  }

  async function loadPeers() {
    const data = await latest('peers', '/peers');
    if (!data) return;
    const peers = data.peers || [];
    setText('peer-count', digits(data.count ?? peers.length));
    // rest_url is shown as text, never as a link: a peer chooses it.
    const rows = peers.map((p) =>
      tr({}, h('td', { class: 'mono', title: p.peer_id ?? '' }, short(p.peer_id)),
        h('td', { class: 'mono' }, p.address ?? p.rest_url ?? '—'), p.direction ?? '—',
        right(num(p.height)), right(num(p.score)), right(Number.isFinite(p.ping_ms) ? `${p.ping_ms} ms` : '—')));
    fillBody($('peer-list'), rows, 'no peers connected', 6);
  }

  // ---------------------------------------------------------------- fork view
  const [COL_W, ROW_H, BOX_W, BOX_H, PAD, TOP] = [64, 40, 48, 24, 8, 22];

  const statusOf = (b) => (['main', 'side', 'invalid'].includes(b.status) ? b.status : b.main_chain ? 'main' : 'side');

  /** The first side row with a free column before `height` (so branches never touch). */
  function freeRow(rowEnd, height) {
    for (let r = 1; r < rowEnd.length; r += 1) if (rowEnd[r] < height - 1) return r;
    return rowEnd.length;
  }

  /**
   * Places blocks in a grid: one column per height, the main chain in row 0, each side
   * branch continuing on its parent's row while that row is free, new branches below.
   */
  function layoutTree(blocks) {
    const valid = blocks.filter((b) => b && typeof b.hash === 'string' && Number.isInteger(b.height));
    valid.sort((a, b) => a.height - b.height);
    const nodes = new Map();
    const rowEnd = [-Infinity]; // the highest height placed in each row so far
    for (const b of valid) {
      const status = statusOf(b);
      const parent = nodes.get(b.previous_hash);
      let row = 0;
      if (b.main_chain !== true && status !== 'main') {
        const extendsParent = parent && parent.row > 0 && rowEnd[parent.row] === b.height - 1;
        row = extendsParent ? parent.row : freeRow(rowEnd, b.height);
      }
      rowEnd[row] = b.height;
      nodes.set(b.hash, { ...b, status, row });
    }
    return nodes;
  }

  function blockBox(n, x, y) {
    const open = () => go('block', n.hash);
    const classes = ['blk', n.status, n.hash === state.tipHash && 'tip', state.route?.arg === n.hash && 'selected'];
    const miner = n.miner_address ? `\nminer ${n.miner_address}` : '';
    return s('g', {
      class: classes.filter(Boolean).join(' '), 'data-hash': n.hash, 'data-status': n.status,
      'data-height': n.height, transform: `translate(${x} ${y})`, tabindex: 0, role: 'link',
      onclick: open, onkeydown: (e) => { if (e.key === 'Enter') open(); },
    },
    s('title', {}, `height ${n.height} · ${n.status}\n${n.hash}${miner}`),
    s('rect', { width: BOX_W, height: BOX_H, rx: 4 }),
    s('text', { x: BOX_W / 2, y: BOX_H / 2 + 4, 'text-anchor': 'middle' }, n.hash.slice(-4)),
    n.status === 'invalid' && s('path', { class: 'cross', d: `M3 3L${BOX_W - 3} ${BOX_H - 3}M${BOX_W - 3} 3L3 ${BOX_H - 3}` }));
  }

  /** An edge from the parent's right side to the child's left side. */
  function edge(p, n, x, y) {
    const [x1, y1, x2, y2] = [x(p.height) + BOX_W, y(p.row) + BOX_H / 2, x(n.height), y(n.row) + BOX_H / 2];
    const mid = (x1 + x2) / 2;
    return s('path', { class: `edge ${n.status}`, d: `M${x1} ${y1}C${mid} ${y1} ${mid} ${y2} ${x2} ${y2}` });
  }

  function drawTree(blocks) {
    const view = $('fork-view');
    const nodes = layoutTree(blocks);
    if (!nodes.size) return view.replaceChildren(h('p', { class: 'muted' }, 'no blocks'));
    const all = [...nodes.values()];
    const minH = Math.min(...all.map((n) => n.height));
    const maxH = Math.max(...all.map((n) => n.height));
    const rows = Math.max(...all.map((n) => n.row)) + 1;
    const x = (height) => PAD + (height - minH) * COL_W;
    const y = (row) => TOP + row * ROW_H;
    const [width, height] = [x(maxH) + BOX_W + PAD, y(rows - 1) + BOX_H + PAD];
    const labels = Array.from({ length: maxH - minH + 1 }, (_, i) =>
      s('text', { class: 'hlabel', x: x(minH + i) + BOX_W / 2, y: 12, 'text-anchor': 'middle' }, minH + i));
    const edges = all.filter((n) => nodes.has(n.previous_hash)).map((n) => edge(nodes.get(n.previous_hash), n, x, y));
    const boxes = all.map((n) => blockBox(n, x(n.height), y(n.row)));
    view.replaceChildren(s('svg', {
      width, height, viewBox: `0 0 ${width} ${height}`, role: 'img',
      'aria-label': `block tree from height ${minH} to ${maxH}`,
    }, labels, edges, boxes));
    view.scrollLeft = view.scrollWidth; // newest heights in sight
  }

  async function loadTree() {
    const data = await latest('tree', '/blocks/tree');
    if (!data) return;
    drawTree((state.tree = Array.isArray(data.blocks) ? data.blocks : []));
  }

  async function loadTips() {
    const tips = await latest('tips', '/chain/tips');
    if (!tips) return;
    $('chain-tips').replaceChildren(...(Array.isArray(tips) ? tips : []).map((t) =>
      h('li', { 'data-status': t.status, 'data-hash': t.hash }, badge(t.status), ' ', blockLink(t.hash),
        ` at ${num(t.height)}`, t.branch_length ? ` · branch ${num(t.branch_length)}` : '', ' ', tipControl(t))));
  }

  // ---------------------------------------------------------------- block controls
  /**
   * The dev-chain block controls (docs/api.md, "Dev-chain controls"): invalidate a tip,
   * reconsider an invalid one. Not offered on main, where the node refuses them; a browser
   * outside the node's admin addresses gets the node's 403 as a notice.
   */
  function tipControl(tip) {
    if (state.network === 'main' || typeof tip.hash !== 'string') return null;
    if (tip.status === 'invalid') return controlButton('reconsiderblock', tip.hash, 'reconsider');
    if (tip.status === 'active' || tip.status === 'valid-fork') return controlButton('invalidateblock', tip.hash, 'invalidate');
    return null;
  }

  function controlButton(route, hash, label) {
    const button = h('button', { type: 'button', class: 'control', 'data-control': route, title: `POST /${route}` }, label);
    button.addEventListener('click', () => {
      button.disabled = true;
      postJSON(`/${route}`, { hash })
        .then((moved) => { notice(`${label}d ${short(hash)}: tip at ${num(moved.height)}`); refreshChain(); },
          failed(label))
        .finally(() => { button.disabled = false; });
    });
    return button;
  }

  // ---------------------------------------------------------------- detail pages
  const list = (items) => h('ul', { class: 'plain' }, items.map((i) => h('li', {}, i)));

  function txSummaryRow(tx) {
    const ins = tx.is_coinbase ? ['coinbase'] : (tx.inputs || []).map((i) => addrLink(i.address));
    const outs = (tx.outputs || []).map((o) => [addrLink(o.address), ` ${coins(o.amount_units, o.amount)}`]);
    const fee = tx.is_coinbase ? 'coinbase' : coins(tx.fee_units, tx.fee);
    return tr({ 'data-txid': tx.txid }, txLink(tx.txid), list(ins), list(outs), right(fee));
  }

  async function blockPage(hash) {
    const enc = encodeURIComponent(hash);
    const [b, txs] = await Promise.all([
      getJSON(`/block/${enc}`),
      getJSON(`/block/${enc}/txs`).catch((err) => {
        if (err.status !== 404) failed('block transactions')(err); // a 404 shows as "no block"
        return null;
      }),
    ]);
    const prev = /^0{64}$/.test(b.previous_hash) ? 'none (genesis)' : blockLink(b.previous_hash, b.previous_hash);
    const shown = Array.isArray(txs) ? txs.slice(0, LIMIT.blockTxs) : [];
    const note = !txs ? 'unavailable' : txs.length > shown.length ? `first ${shown.length} of ${txs.length}` : '';
    return [
      h('h2', {}, `Block ${b.height}`),
      facts([
        ['hash', mono(b.hash)], ['status', badge(b.status)], ['confirmations', num(b.confirmations)],
        ['previous', prev], ['merkle root', mono(b.merkle_root)], ['time', utc(b.time)],
        ['miner', addrLink(b.miner_address, b.miner_address)], ['transactions', num(b.tx_count)],
        ['size', bytes(b.size)], ['difficulty', num(b.difficulty)], ['bits', b.bits], ['nonce', b.nonce],
        ['version', b.version], ['chain work', mono(b.chain_work)],
      ]),
      h('h3', {}, 'Transactions ', h('span', { class: 'muted' }, note)),
      table(['txid', 'from', 'to', 'fee'], shown.map(txSummaryRow)),
    ];
  }

  function txStatus(st) {
    if (!st) return '—';
    if (!st.confirmed) return h('span', {}, badge('pending'), ' in the mempool');
    return h('span', {}, badge('confirmed'), ' in block ', blockLink(st.block_hash, String(st.block_height)),
      ` · ${num(st.confirmations)} confirmations · ${utc(st.block_time)}`);
  }

  async function txPage(txid) {
    const tx = await getJSON(`/tx/${encodeURIComponent(txid)}`);
    const inputs = (tx.inputs || []).map((i) =>
      tr({}, tx.is_coinbase ? 'coinbase' : txLink(i.txid, `${short(i.txid)}:${i.vout}`),
        addrLink(i.address, i.address), right(coins(i.amount_units, i.amount))));
    const outputs = (tx.outputs || []).map((o) =>
      tr({}, right(o.vout), addrLink(o.address, o.address), right(coins(o.amount_units, o.amount))));
    return [
      h('h2', {}, tx.is_coinbase ? 'Coinbase transaction' : 'Transaction'),
      facts([
        ['txid', mono(tx.txid)], ['wtxid', mono(tx.wtxid)], ['status', txStatus(tx.status)],
        ['fee', tx.is_coinbase ? 'none (coinbase)' : coins(tx.fee_units, tx.fee)],
        ['size', bytes(tx.size)], ['version', tx.version], ['lock time', tx.lock_time],
      ]),
      h('h3', {}, 'Inputs'), table(['spends', 'address', 'amount'], inputs),
      h('h3', {}, 'Outputs'), table(['vout', 'address', 'amount'], outputs),
    ];
  }

  const historyRows = (page) => (page.transactions || []).map((t) =>
    tr({ 'data-txid': t.txid }, txLink(t.txid), right(blockLink(t.block_hash, String(t.height))),
      right(coins(t.received_units, t.received)), right(coins(t.sent_units, t.sent)),
      h('td', { class: `num ${Number(t.net_units) < 0 ? 'neg' : ''}` }, coins(t.net_units, t.net)),
      right(num(t.confirmations))));

  /** The address history with an "older" button that appends the next page (`before`). */
  function historySection(addr, first) {
    const section = table(['txid', 'height', 'received', 'sent', 'net', 'confirmations'], []);
    const body = section.tBodies[0];
    const older = h('button', { type: 'button', class: 'pager' }, 'older');
    let next = null;
    const add = (page) => {
      body.append(...historyRows(page));
      next = page.next || null;
      older.hidden = !next;
    };
    older.addEventListener('click', () => {
      older.disabled = true;
      getJSON(`/transactions/${encodeURIComponent(addr)}?limit=${LIMIT.history}&before=${encodeURIComponent(next)}`)
        .then(add, failed('older history')).finally(() => { older.disabled = false; });
    });
    add(first);
    if (!body.children.length) fillBody(body, [], 'no transactions', 6);
    return [section, older];
  }

  async function addressPage(addr) {
    const enc = encodeURIComponent(addr);
    const [bal, utxos, hist] = await Promise.all([
      getJSON(`/balance/${enc}`),
      getJSON(`/utxos/${enc}?limit=${LIMIT.utxos}`),
      getJSON(`/transactions/${enc}?limit=${LIMIT.history}`),
    ]);
    const utxoTable = table(['outpoint', 'amount', 'height', 'confirmations', ''], []);
    fillBody(utxoTable.tBodies[0], (utxos.utxos || []).map((u) =>
      tr({}, txLink(u.txid, `${short(u.txid)}:${u.vout}`), right(coins(u.amount_units, u.amount)),
        right(num(u.height)), right(num(u.confirmations)),
        u.is_coinbase ? (u.mature ? 'coinbase' : 'coinbase, immature') : '')), 'no unspent outputs', 5);
    return [
      h('h2', {}, 'Address'),
      facts([
        ['address', mono(bal.address ?? addr)], ['balance', coins(bal.balance_units, bal.balance)],
        ['confirmed', coins(bal.confirmed_units, bal.confirmed)], ['immature', coins(bal.immature_units, bal.immature)],
        ['pending', coins(bal.pending_units, bal.pending)], ['unspent outputs', num(bal.utxo_count)],
        ['as of height', num(bal.height)],
      ]),
      h('h3', {}, `Unspent outputs (${num(utxos.count ?? utxoTable.tBodies[0].children.length)})`), utxoTable,
      h('h3', {}, 'History'), historySection(addr, hist),
    ];
  }

  const PAGES = { block: blockPage, tx: txPage, address: addressPage };

  /** Renders the routed page; a `quiet` refresh keeps the old page if the fetch fails. */
  async function renderRoute(route, quiet) {
    const fresh = ticket('route');
    const view = $('detail');
    if (!quiet) view.replaceChildren(h('p', { class: 'muted' }, 'loading…'));
    try {
      const content = await PAGES[route.kind](route.arg);
      if (!fresh()) return;
      view.replaceChildren();
      append(view, content);
    } catch (err) {
      if (quiet || !fresh()) return failed(`refreshing the ${route.kind}`)(err);
      const what = err.status === 404 ? `no ${route.kind} ${route.arg}` : err.message;
      view.replaceChildren(h('h2', {}, route.kind), h('p', { class: 'error' }, what));
      if (err.status !== 404) notice(`loading the ${route.kind} failed: ${err.message}`);
    }
  }

  function onRoute() {
    const route = parseRoute(location.hash);
    state.route = route;
    $('home').hidden = Boolean(route);
    $('detail').hidden = !route;
    if (!route && location.hash.length > 2) notice(`unknown page ${location.hash}`);
    if (state.tree) drawTree(state.tree); // moves the "selected" mark
    if (!route) return;
    window.scrollTo(0, 0);
    renderRoute(route, false);
  }

  // ---------------------------------------------------------------- search
  /** True if the path answers, false on 404, throws on any other failure. */
  const exists = (path) => getJSON(path).then(() => true, (err) => (err.status === 404 ? false : Promise.reject(err)));

  /** A height, a 64-hex block hash or txid (block first), or an address. */
  async function search(query) {
    const q = query.trim();
    if (/^\d+$/.test(q)) {
      const hash = (await fetchAs(`/block-height/${q}`, 'text')).trim();
      if (!HASH_RE.test(hash)) throw new Error(`unexpected answer for height ${q}`);
      go('block', hash);
    } else if (/^[0-9a-fA-F]{64}$/.test(q)) {
      const id = q.toLowerCase();
      if (await exists(`/block/${id}`)) go('block', id);
      else if (await exists(`/tx/${id}`)) go('tx', id);
      else notice(`no block or transaction ${short(id)}`);
    } else if (BASE58_RE.test(q)) {
      go('address', q);
    } else if (q) {
      notice('search for a height, a block hash, a txid or an address');
    }
  }

  function onSearch(event) {
    event.preventDefault();
    const input = $('q');
    search(input.value).then(() => input.select(), (err) =>
      notice(err.status === 404 ? `nothing found for ${input.value.trim()}` : `search failed: ${err.message}`));
  }

  // ---------------------------------------------------------------- live events
  /** One log line per SSE event type (docs/api.md, "Live events"). */
  const EVENT_TEXT = {
    block_connected: (d) => [`block ${d.height} `, blockLink(d.hash), ` · ${num(d.tx_count)} tx · miner `, addrLink(d.miner_address)],
    block_disconnected: (d) => [`disconnected ${d.height} `, blockLink(d.hash)],
    reorg: (d) => [`reorg depth ${d.depth} at ${d.fork_height}: `, blockLink(d.old_tip), ' → ', blockLink(d.new_tip)],
    tx_accepted: (d) => ['tx ', txLink(d.txid), ` · fee ${coins(d.fee_units)} · ${bytes(d.size)}`],
    tx_readded: (d) => ['back in the mempool: tx ', txLink(d.txid), ` · fee ${coins(d.fee_units)}`],
    lagged: (d) => [`missed ${d.missed == null ? 'some' : num(d.missed)} events: refreshing`],
  };

  function logEvent(type, data) {
    const log = $('event-log');
    log.prepend(h('li', { 'data-type': type, class: type === 'reorg' ? 'reorg' : null },
      h('time', {}, new Date().toTimeString().slice(0, 8)), ' ', EVENT_TEXT[type](data)));
    while (log.children.length > LIMIT.events) log.lastElementChild.remove();
  }

  function onStreamEvent(type, raw) {
    let data = {};
    try { data = JSON.parse(raw) || {}; } catch { notice(`unreadable ${type} event`); }
    logEvent(type, data);
    if (type === 'block_connected') setTip(data.height, data.hash); // /status confirms shortly
    if (CHAIN_EVENTS.has(type)) schedule('chain', refreshChain, 250);
    else if (type === 'tx_accepted' || type === 'tx_readded') schedule('mempool', refreshMempool, 500);
  }

  /** Shows the stream state; while it is offline, /status is polled instead. */
  function setStreamState(live) {
    if (state.live === live) return;
    state.live = live;
    Object.assign($('stream-state'), { textContent: live ? 'live' : 'offline', className: live ? 'live' : 'offline' });
    clearInterval(state.pollTimer);
    state.pollTimer = live ? null : setInterval(pollStatus, MS.poll);
  }

  function connectStream() {
    if (typeof EventSource !== 'function') return;
    const stream = new EventSource('/events');
    stream.onopen = () => {
      setStreamState(true);
      schedule('chain', refreshChain, 0); // catch up on what happened while disconnected
    };
    stream.onerror = () => {
      setStreamState(false);
      if (stream.readyState !== EventSource.CLOSED) return; // the browser retries by itself
      stream.close(); // it gave up (e.g. a non-SSE answer): retry ourselves
      setTimeout(connectStream, MS.reconnect);
    };
    for (const type of Object.keys(EVENT_TEXT)) stream.addEventListener(type, (e) => onStreamEvent(type, e.data));
  }

  /** Without the stream: poll /status, and refresh the rest only when it changed. */
  async function pollStatus() {
    const before = { tip: state.tipHash, pending: state.pending };
    const st = await loadStatus().catch(failed('status'));
    if (!st) return;
    if (st.best_block_hash !== before.tip) refreshChain();
    else if (st.pending_transactions !== before.pending) refreshMempool();
  }

  // ---------------------------------------------------------------- refresh and boot
  const refreshMempool = () => loadMempool().catch(failed('mempool'));

  function refreshChain() {
    loadStatus().catch(failed('status'));
    loadRecent().catch(failed('recent blocks'));
    loadTree().catch(failed('block tree'));
    loadTips().catch(failed('chain tips'));
    refreshMempool();
    if (state.route && state.route.kind !== 'address') renderRoute(state.route, true); // keeps the pager
  }

  function boot() {
    $('search').addEventListener('submit', onSearch);
    window.addEventListener('hashchange', onRoute);
    setStreamState(false);
    onRoute();
    refreshChain();
    loadPeers().catch(failed('peers'));
    setInterval(() => loadPeers().catch(failed('peers')), MS.peers);
    setInterval(renderUptime, 1000);
    connectStream();
  }

  boot(); // the script is loaded with `defer`: the DOM is parsed by now
})();
