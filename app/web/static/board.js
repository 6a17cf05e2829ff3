// incidentgraph wall display: one persona's status board, live over boardUpdated.
// Plain JavaScript, no dependencies: a small graphql-transport-ws client, a renderer per
// persona, and a once-a-second tick for clocks, countdowns and the connection indicator.
// The page never scrolls: a list that does not fit switches to compact rows, then to pages
// that turn every ?page_seconds= (default 10), showing "page 1/3" and "+N more".
(function () {
  "use strict";

  const TOKEN_KEY = "incidentgraph-board-token";
  const STALE_AFTER_MS = 30000; // no message at all (pongs included) for this long: STALE
  const DEAD_AFTER_MS = 45000; // ...and for this long: drop the socket and reconnect
  const PING_EVERY_MS = 10000;
  const ACK_TIMEOUT_MS = 10000;
  const DOWN_IS_DISCONNECTED_MS = 60000; // retrying for longer than this shows DISCONNECTED
  const BACKOFF_FIRST_MS = 1000;
  const BACKOFF_CAP_MS = 30000;
  const SKEW_TOLERANCE_MS = 2000;
  const RECENT_EVENTS = 3;
  const PAGE_SECONDS_DEFAULT = 10;

  const persona = document.body.dataset.persona;
  const PERSONA = persona.toUpperCase();

  const INCIDENT_FIELDS = `
    id reference title priority status severity service assignee commander isMajor
    ageSeconds customerImpact slaResponseDue slaResolveDue responseSecondsLeft resolveSecondsLeft`;
  const SELECTIONS = {
    EXECUTIVE: `... on ExecutiveBoard { persona generatedAt
        openByPriority { priority count } openByStatus { status count }
        majorIncidents { ${INCIDENT_FIELDS} }
        slaCompliance { today sevenDays measuredToday measuredSevenDays }
        mttaSeconds7d mttrSeconds7d }`,
    RESPONDER: `... on ResponderBoard { persona generatedAt
        incidents { ${INCIDENT_FIELDS} recentEvents { id seq type time actor }
                    progress tasks { todo inProgress blocked done skipped } } }`,
    COMMUNICATIONS: `... on CommunicationsBoard { persona generatedAt
        overdue { cadenceMinutes lastPublicUpdateAt publicSummary overdueSeconds
                  incident { ${INCIDENT_FIELDS} } } }`,
    CUSTOMER: `... on CustomerBoard { persona generatedAt
        services { service status updates { time body } } }`,
  };
  const QUERY = `subscription WallBoard($persona: Persona!) {
    boardUpdated(persona: $persona) { __typename ${SELECTIONS[PERSONA]} } }`;

  const $ = (id) => document.getElementById(id);
  const ui = {
    board: $("board"), conn: $("conn"), age: $("age"), clock: $("clock"), detail: $("detail"),
    login: $("login"), loginForm: $("login-form"), loginToken: $("login-token"),
    loginReason: $("login-reason"), title: $("title"),
    pager: $("pager"), pageNumber: $("page-number"), pageMore: $("page-more"),
  };

  const conn = {
    token: null,
    ws: null,
    acked: false,
    failures: 0, // consecutive connections that ended before or without staying up
    downSince: null,
    retryAt: null,
    retryTimer: null,
    ackTimer: null,
    pingTimer: null,
    lastMessageAt: 0,
    waitingForToken: false,
    nextId: 0,
  };
  const view = { board: null, generatedAt: null, offsetMs: 0 };
  // The list's pages (arrays of its children, in the board's order) and the one on show.
  const paging = { pages: [], index: 0 };

  // ---- token: from the fragment (then out of the address bar), the session, or a prompt --

  function takeToken() {
    const params = new URLSearchParams(location.hash.replace(/^#/, ""));
    const fromFragment = params.get("token");
    if (fromFragment) {
      sessionStorage.setItem(TOKEN_KEY, fromFragment.trim());
      history.replaceState(null, "", location.pathname + location.search);
    }
    return sessionStorage.getItem(TOKEN_KEY);
  }

  function askForToken(reason) {
    conn.token = null;
    conn.waitingForToken = true;
    sessionStorage.removeItem(TOKEN_KEY);
    ui.loginReason.textContent = reason;
    ui.login.hidden = false;
    ui.loginToken.value = "";
    ui.loginToken.focus();
    render();
  }

  ui.loginForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const token = ui.loginToken.value.trim();
    if (!token) return;
    sessionStorage.setItem(TOKEN_KEY, token);
    conn.token = token;
    conn.waitingForToken = false;
    ui.login.hidden = true;
    conn.failures = 0;
    connect();
  });

  // ---- graphql-transport-ws ----------------------------------------------------------

  function socketUrl() {
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/graphql";
  }

  function send(ws, message) {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
  }

  function clearTimers() {
    clearTimeout(conn.ackTimer);
    clearInterval(conn.pingTimer);
    clearTimeout(conn.retryTimer);
    conn.ackTimer = conn.pingTimer = conn.retryTimer = null;
  }

  function connect() {
    clearTimers();
    conn.retryAt = null;
    if (!conn.token) {
      askForToken("This board needs an API token (a VIEWER or STAKEHOLDER token of its own).");
      return;
    }
    const ws = new WebSocket(socketUrl(), "graphql-transport-ws");
    conn.ws = ws;
    conn.acked = false;
    ws.onopen = () => {
      send(ws, { type: "connection_init", payload: { authorization: "Bearer " + conn.token } });
      conn.ackTimer = setTimeout(() => ws.close(4000, "no connection_ack"), ACK_TIMEOUT_MS);
    };
    ws.onmessage = (event) => {
      if (ws !== conn.ws) return;
      conn.lastMessageAt = Date.now();
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (err) {
        return;
      }
      onMessage(ws, message);
    };
    ws.onclose = (event) => {
      if (ws !== conn.ws) return;
      conn.ws = null;
      conn.acked = false;
      clearTimers();
      if (event.code === 4401 || event.code === 4403) {
        askForToken(`The server refused this token (${event.code}${event.reason ? ": " + event.reason : ""}). Enter another.`);
        return;
      }
      scheduleReconnect(event.reason || `connection closed (${event.code})`);
    };
    render();
  }

  function onMessage(ws, message) {
    switch (message.type) {
      case "connection_ack":
        clearTimeout(conn.ackTimer);
        conn.acked = true;
        conn.pingTimer = setInterval(() => send(ws, { type: "ping" }), PING_EVERY_MS);
        // The first message of boardUpdated is the whole current board, so subscribing
        // afresh on every connection is all it takes to miss nothing while away.
        conn.nextId += 1;
        send(ws, {
          id: String(conn.nextId),
          type: "subscribe",
          payload: { query: QUERY, variables: { persona: PERSONA }, operationName: "WallBoard" },
        });
        break;
      case "ping":
        send(ws, { type: "pong" });
        break;
      case "pong":
        break;
      case "next":
        if (message.id !== String(conn.nextId)) break;
        onResult(message.payload || {});
        break;
      case "error": {
        const errors = Array.isArray(message.payload) ? message.payload : [];
        const code = errors.length && errors[0].extensions ? errors[0].extensions.code : null;
        const text = errors.map((e) => e.message).join("; ") || "subscription refused";
        if (code === "UNAUTHENTICATED" || code === "FORBIDDEN") {
          ws.onclose = null;
          ws.close(1000);
          conn.ws = null;
          clearTimers();
          askForToken(`This token may not read the ${persona} board (${text}). Enter another.`);
        } else {
          ws.close(4000, text.slice(0, 120));
        }
        break;
      }
      case "complete":
        // The server ended the stream: start over on a new connection.
        ws.close(1000, "subscription completed by the server");
        break;
      default:
        break;
    }
  }

  function onResult(payload) {
    if (payload.errors && payload.errors.length) {
      ui.detail.textContent = payload.errors.map((e) => e.message).join("; ");
    }
    const board = payload.data ? payload.data.boardUpdated : null;
    if (!board) return;
    const receivedAt = Date.now();
    const skew = Date.parse(board.generatedAt) - receivedAt;
    // Clocks that disagree by more than delivery can explain: count on the server's clock.
    view.offsetMs = Math.abs(skew) > SKEW_TOLERANCE_MS ? skew : 0;
    // Only a board resets the backoff: a server that acknowledges and then refuses the
    // subscription is retried ever more slowly, not once a second.
    conn.failures = 0;
    conn.downSince = null;
    view.board = board;
    view.generatedAt = Date.parse(board.generatedAt);
    if (!payload.errors || !payload.errors.length) ui.detail.textContent = "";
    drawBoard(board);
    render();
  }

  function backoffMs(failures) {
    const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_FIRST_MS * 2 ** Math.max(0, failures - 1));
    // Equal jitter: half fixed, half random, so a room of displays does not retry in step.
    return Math.max(BACKOFF_FIRST_MS / 2, ceiling / 2 + Math.random() * (ceiling / 2));
  }

  function scheduleReconnect(why) {
    conn.failures += 1;
    if (conn.downSince === null) conn.downSince = Date.now();
    const delay = backoffMs(conn.failures);
    conn.retryAt = Date.now() + delay;
    conn.retryTimer = setTimeout(connect, delay);
    ui.detail.textContent = why;
    render();
  }

  window.addEventListener("online", () => {
    if (conn.retryTimer !== null) connect();
  });

  // ---- formatting ---------------------------------------------------------------------

  const serverNow = () => Date.now() + view.offsetMs;
  const pad = (n) => String(n).padStart(2, "0");

  function clockText(totalSeconds) {
    const s = Math.floor(Math.abs(totalSeconds));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    return (h ? h + ":" + pad(m) : pad(m)) + ":" + pad(s % 60);
  }

  function durationText(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    const s = Math.max(0, Math.round(seconds));
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min";
    if (s < 86400) return Math.floor(s / 3600) + " h " + pad(Math.floor((s % 3600) / 60)) + " min";
    return Math.floor(s / 86400) + " d " + Math.floor((s % 86400) / 3600) + " h";
  }

  function countdownText(secondsLeft) {
    return secondsLeft < 0 ? "BREACHED +" + clockText(secondsLeft) : clockText(secondsLeft);
  }

  function percentText(ratio) {
    if (ratio === null || ratio === undefined) return "—";
    return (ratio * 100).toFixed(ratio >= 0.9995 ? 0 : 1) + "%";
  }

  function timeOfDay(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    return pad(d.getHours()) + ":" + pad(d.getMinutes());
  }

  function eventName(type) {
    return String(type).replace(/^com\.incidents\./, "").replace(/\.v\d+$/, "").replace(/_/g, " ");
  }

  function words(value) {
    return value === null || value === undefined ? "—" : String(value).replace(/_/g, " ");
  }

  // ---- DOM helpers (text only: nothing from the server is parsed as HTML) ---------------

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") el.className = value;
      else if (key.startsWith("data-")) el.dataset[key.slice(5).replace(/-(.)/g, (_, c) => c.toUpperCase())] = value;
      else el.setAttribute(key, value);
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  const badge = (priority) => h("span", { class: "badge p-" + String(priority).toLowerCase() }, priority);

  // A moment on the server's clock `seconds` before the board was generated.
  const before = (seconds) => String(view.generatedAt - seconds * 1000);

  function slaCell(label, due, secondsLeft, status) {
    if (secondsLeft === null || secondsLeft === undefined || !due) {
      const text = status === "PENDING" ? "paused" : "—";
      return h("div", { class: "sla sla-stopped" }, h("span", { class: "sla-label" }, label), h("span", { class: "sla-value" }, text));
    }
    return h("div", { class: "sla" }, h("span", { class: "sla-label" }, label),
      h("span", { class: "sla-value", "data-due": String(Date.parse(due)) }, countdownText(secondsLeft)));
  }

  function incidentMeta(inc) {
    return h("div", { class: "meta-line" },
      h("span", { class: "status s-" + String(inc.status).toLowerCase() }, words(inc.status)),
      h("span", { class: "minor" }, inc.severity), inc.service ? h("span", { class: "minor" }, inc.service) : null,
      h("span", { class: "minor" }, "assignee " + (inc.assignee || "—")),
      h("span", { class: "minor" }, "commander " + (inc.commander || "—")),
      inc.isMajor ? h("span", { class: "major" }, "MAJOR") : null);
  }

  // ---- one layout per persona -----------------------------------------------------------

  function empty(text) {
    return h("div", { class: "empty" }, text);
  }

  function drawResponder(board) {
    if (!board.incidents.length) return empty("No active incidents");
    return h("div", { class: "rows pageable" }, board.incidents.map((inc) =>
      h("article", { class: "row p-edge-" + String(inc.priority).toLowerCase(), "data-incident": inc.id },
        badge(inc.priority),
        h("div", { class: "what" },
          h("div", { class: "headline" }, h("span", { class: "ref" }, inc.reference), " ", h("span", { class: "incident-title" }, inc.title)),
          incidentMeta(inc),
          progressBar(inc),
          h("ol", { class: "events" }, (inc.recentEvents || []).slice(0, RECENT_EVENTS).map((ev) =>
            h("li", null, h("time", null, timeOfDay(ev.time)), " ", eventName(ev.type), ev.actor ? " · " + ev.actor : "")))),
        h("div", { class: "clocks" },
          slaCell("respond", inc.slaResponseDue, inc.responseSecondsLeft, inc.status),
          slaCell("resolve", inc.slaResolveDue, inc.resolveSecondsLeft, inc.status)))));
  }

  // How far the response is, readable across a room: a bar, the figure, what holds it up.
  function progressBar(inc) {
    const t = inc.tasks || { todo: 0, inProgress: 0, blocked: 0, done: 0, skipped: 0 };
    const total = t.todo + t.inProgress + t.blocked + t.done;
    if (!total) return null;
    const pct = Math.max(0, Math.min(100, inc.progress));
    const fill = h("div", { class: "progress-fill" });
    fill.style.width = `${pct}%`; // the CSSOM, not a style attribute: the CSP allows no inline style
    return h("div", { class: "progress" },
      h("div", { class: "progress-track", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": pct },
        fill),
      h("span", { class: "progress-text" }, `${pct}% · ${t.done}/${total} tasks`,
        t.blocked ? h("span", { class: "progress-blocked" }, ` · ${t.blocked} blocked`) : null));
  }

  function drawExecutive(board) {
    const byPriority = new Map(board.openByPriority.map((c) => [c.priority, c.count]));
    const tiles = ["P1", "P2", "P3", "P4", "P5"].map((p) =>
      h("div", { class: "tile p-tile-" + p.toLowerCase() }, h("div", { class: "tile-count" }, byPriority.get(p) || 0), h("div", { class: "tile-label" }, p)));
    const sla = board.slaCompliance;
    const stats = h("div", { class: "stats" },
      h("section", { class: "panel" }, h("h2", null, "Open by status"),
        board.openByStatus.length
          ? h("dl", { class: "pairs pairs-2" }, board.openByStatus.map((c) => [h("dt", null, words(c.status).toLowerCase()), h("dd", null, c.count)]))
          : h("p", { class: "quiet" }, "nothing open")),
      h("section", { class: "panel" }, h("h2", null, "SLA compliance"),
        h("dl", { class: "pairs" },
          h("dt", null, "today"), h("dd", null, percentText(sla.today), h("small", null, ` · ${sla.measuredToday} clocks`)),
          h("dt", null, "7 days"), h("dd", null, percentText(sla.sevenDays), h("small", null, ` · ${sla.measuredSevenDays} clocks`)))),
      h("section", { class: "panel" }, h("h2", null, "7-day response"),
        h("dl", { class: "pairs" },
          h("dt", null, "MTTA"), h("dd", null, durationText(board.mttaSeconds7d)),
          h("dt", null, "MTTR"), h("dd", null, durationText(board.mttrSeconds7d)))));
    const majors = board.majorIncidents.length
      ? h("div", { class: "rows pageable" }, board.majorIncidents.map((inc) =>
          h("article", { class: "row p-edge-" + String(inc.priority).toLowerCase(), "data-incident": inc.id },
            badge(inc.priority),
            h("div", { class: "what" },
              h("div", { class: "headline" }, h("span", { class: "ref" }, inc.reference), " ", h("span", { class: "incident-title" }, inc.title)),
              incidentMeta(inc)),
            h("div", { class: "clocks" },
              h("div", { class: "sla" }, h("span", { class: "sla-label" }, "age"), h("span", { class: "sla-value", "data-since": before(inc.ageSeconds) }, clockText(inc.ageSeconds))),
              h("div", { class: "sla" }, h("span", { class: "sla-label" }, "customer impact"), h("span", { class: "sla-value impact-" + String(inc.customerImpact).toLowerCase() }, inc.customerImpact))))))
      : empty("No major incidents");
    return [h("div", { class: "tiles" }, tiles), stats, h("h2", { class: "section" }, "Major incidents"), majors];
  }

  function drawCommunications(board) {
    if (!board.overdue.length) return empty("Every stakeholder update is on time");
    return h("div", { class: "rows pageable" }, board.overdue.map((item) => {
      const inc = item.incident;
      return h("article", { class: "row p-edge-" + String(inc.priority).toLowerCase(), "data-incident": inc.id },
        badge(inc.priority),
        h("div", { class: "what" },
          h("div", { class: "headline" }, h("span", { class: "ref" }, inc.reference), " ", h("span", { class: "incident-title" }, inc.title)),
          h("div", { class: "meta-line" },
            h("span", { class: "minor" }, `update every ${item.cadenceMinutes} min`),
            h("span", { class: "minor" }, item.lastPublicUpdateAt ? "last public update " + timeOfDay(item.lastPublicUpdateAt) : "no public update yet")),
          h("p", { class: "summary" }, item.publicSummary || "No public summary yet.")),
        h("div", { class: "clocks" },
          h("div", { class: "sla" }, h("span", { class: "sla-label" }, "update overdue"),
            h("span", { class: "sla-value overdue", "data-since": before(item.overdueSeconds), "data-prefix": "+" }, "+" + clockText(item.overdueSeconds)))));
    }));
  }

  function drawCustomer(board) {
    if (!board.services.length) return empty("All systems operational");
    return h("div", { class: "services pageable" }, board.services.map((svc) =>
      h("article", { class: "service h-" + String(svc.status).toLowerCase() },
        h("div", { class: "service-head" }, h("span", { class: "service-name" }, svc.service), h("span", { class: "health" }, words(svc.status))),
        h("ol", { class: "updates" }, svc.updates.map((u) => h("li", null, h("time", null, timeOfDay(u.time)), " ", u.body))))));
  }

  const DRAW = { EXECUTIVE: drawExecutive, RESPONDER: drawResponder, COMMUNICATIONS: drawCommunications, CUSTOMER: drawCustomer };

  function drawBoard(board) {
    ui.board.replaceChildren(...[DRAW[PERSONA](board)].flat());
    tick();
    layout();
  }

  // ---- fitting the screen: full rows, else compact rows, else pages ----------------------

  function pageSeconds() {
    const asked = Number(new URLSearchParams(location.search).get("page_seconds"));
    return Number.isFinite(asked) && asked > 0 ? Math.min(Math.max(asked, 1), 3600) : PAGE_SECONDS_DEFAULT;
  }

  const pageableList = () => ui.board.querySelector(".pageable");

  function fits(list) {
    return list.scrollHeight <= list.clientHeight + 1 &&
      document.scrollingElement.scrollHeight <= window.innerHeight;
  }

  // The list's children grouped into what one screen holds. Children side by side (the
  // customer board's grid) form one line and share a page; every page has at least one line.
  function splitPages(list) {
    const room = list.clientHeight + 1;
    const lines = [];
    for (const item of list.children) {
      const box = item.getBoundingClientRect();
      const last = lines[lines.length - 1];
      if (last && Math.abs(box.top - last.top) < 1) {
        last.items.push(item);
        last.bottom = Math.max(last.bottom, box.bottom);
      } else {
        lines.push({ top: box.top, bottom: box.bottom, items: [item] });
      }
    }
    const pages = [];
    let page = null;
    for (const line of lines) {
      if (page && line.bottom - page.top > room) page = null;
      if (!page) {
        page = { top: line.top, items: [] };
        pages.push(page);
      }
      page.items.push(...line.items);
    }
    return pages.map((p) => p.items);
  }

  // Measure afresh (after every board, on resize, when a row outgrows its room); the page on
  // show stays the same where it still exists, and the order is always the board's.
  function layout() {
    const list = pageableList();
    const items = list ? Array.from(list.children) : [];
    for (const item of items) item.hidden = false;
    ui.pager.hidden = true;
    document.body.classList.remove("compact");
    if (!list || fits(list)) return showPages([items]);
    document.body.classList.add("compact");
    if (fits(list)) return showPages([items]);
    ui.pager.hidden = false; // its line is taken from the list's room before measuring
    ui.pageNumber.textContent = "page 1/1";
    ui.pageMore.textContent = "+0 more";
    showPages(splitPages(list));
  }

  function showPages(pages) {
    paging.pages = pages;
    showPage(Math.min(paging.index, pages.length - 1));
  }

  function showPage(index) {
    const pages = paging.pages;
    paging.index = index;
    pages.forEach((items, n) => { for (const item of items) item.hidden = n !== index; });
    if (pages.length < 2) {
      ui.pager.hidden = true;
      return;
    }
    const total = pages.reduce((sum, items) => sum + items.length, 0);
    ui.pager.hidden = false;
    ui.pageNumber.textContent = `page ${index + 1}/${pages.length}`;
    ui.pageMore.textContent = `+${total - pages[index].length} more`;
  }

  function turnPage() {
    if (paging.pages.length > 1) showPage((paging.index + 1) % paging.pages.length);
  }

  let resizeFrame = null;
  window.addEventListener("resize", () => {
    cancelAnimationFrame(resizeFrame);
    resizeFrame = requestAnimationFrame(layout);
  });

  // ---- the connection indicator and everything that ticks -------------------------------

  function connectionState() {
    const now = Date.now();
    if (conn.acked) {
      return now - conn.lastMessageAt > STALE_AFTER_MS
        ? { state: "STALE", text: "STALE · " + durationText((now - conn.lastMessageAt) / 1000) + " silent" }
        : { state: "LIVE", text: "LIVE" };
    }
    if (conn.waitingForToken) return { state: "DISCONNECTED", text: "DISCONNECTED · no token" };
    if (conn.failures === 0) return { state: "CONNECTING", text: "CONNECTING" };
    const retry = conn.retryAt !== null ? " · retry in " + Math.max(0, Math.ceil((conn.retryAt - now) / 1000)) + " s" : "";
    if (conn.downSince !== null && now - conn.downSince >= DOWN_IS_DISCONNECTED_MS) {
      return { state: "DISCONNECTED", text: "DISCONNECTED · attempt " + conn.failures + retry };
    }
    return { state: "RECONNECTING", text: "RECONNECTING · attempt " + conn.failures + retry };
  }

  function render() {
    const { state, text } = connectionState();
    if (ui.conn.dataset.state !== state) {
      ui.conn.dataset.state = state;
      ui.conn.className = "conn conn-" + state.toLowerCase();
    }
    if (ui.conn.textContent !== text) ui.conn.textContent = text;
    document.body.classList.toggle("degraded", state !== "LIVE");
  }

  function tick() {
    const now = serverNow();
    ui.clock.textContent = new Date(now).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
    if (view.generatedAt !== null) {
      ui.age.textContent = "updated " + durationText((now - view.generatedAt) / 1000) + " ago";
    }
    for (const el of ui.board.querySelectorAll("[data-due]")) {
      const left = (Number(el.dataset.due) - now) / 1000;
      el.textContent = countdownText(left);
      el.classList.toggle("breached", left < 0);
      el.classList.toggle("soon", left >= 0 && left < 300);
    }
    for (const el of ui.board.querySelectorAll("[data-since]")) {
      el.textContent = (el.dataset.prefix || "") + clockText((now - Number(el.dataset.since)) / 1000);
    }
    // A clock grown by a digit can wrap a row: measure again rather than cut it off.
    const list = pageableList();
    if (list && (list.scrollHeight > list.clientHeight + 1 || document.scrollingElement.scrollHeight > window.innerHeight)) {
      layout();
    }
    if (conn.acked && Date.now() - conn.lastMessageAt > DEAD_AFTER_MS && conn.ws) {
      conn.ws.close(4000, "no message for " + DEAD_AFTER_MS / 1000 + " s");
    }
    render();
  }

  // ---- start ----------------------------------------------------------------------------

  ui.title.textContent = persona.charAt(0).toUpperCase() + persona.slice(1) + " board";
  conn.token = takeToken();
  setInterval(tick, 1000);
  setInterval(turnPage, pageSeconds() * 1000);
  tick();
  connect();
})();
