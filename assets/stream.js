/*
 * The page's one connection to /events/: the EventSource, where it resumes from, how it
 * reconnects, and the live/reconnecting/offline indicator (#conn).
 *
 * The page was rendered with the user's delivery sequence read before its notifications
 * (the bell's data-last-event-id); the stream starts there (?lastEventId=), so whatever was
 * stored in between is replayed. The SSE id is the stream's position in that sequence (not
 * a notification id): the browser resends it as Last-Event-ID when it reconnects by
 * itself, and connect() sends the latest one it saw when it opens a new stream.
 *
 * Other scripts subscribe with Live.stream.on(eventName, fn(event)) before the page has
 * loaded; the stream opens on DOMContentLoaded, after every deferred script has run.
 * The SSE event names are the server's (notifications/sse/frames.py): stream_open, stream_reset,
 * stream_error, and the notification ones the bell handles.
 */
(function () {
  "use strict";

  var Live = window.Live;
  if (!Live) return;

  var conn = document.getElementById("conn");
  var eventsUrl = Live.catalog.urls.events;
  var lastEventId = Live.bell.getAttribute("data-last-event-id") || "0";
  var handlers = {};
  var source = null;
  var retryTimer = null;
  var retryDelay = 2000;
  var stopped = false;
  var opened = false;

  var CONN_LABELS = { connecting: "Connecting", live: "Live", reconnecting: "Reconnecting…", offline: "Offline" };
  function setConn(state, detail) {
    conn.setAttribute("data-state", state);
    conn.querySelector(".conn-label").textContent = detail || CONN_LABELS[state];
    conn.title = "Live updates: " + (detail || CONN_LABELS[state]).toLowerCase();
  }

  function on(name, fn) {
    (handlers[name] = handlers[name] || []).push(fn);
  }

  function stop(label) {
    // Signed out, or paused for a newer tab: no reconnecting until the page is reloaded.
    stopped = true;
    if (source) source.close();
    setConn("offline", label);
  }

  function scheduleReconnect() {
    clearTimeout(retryTimer);
    // Jittered, like the server's retry hint: pages that lost the same server come back spread out.
    retryTimer = setTimeout(function () { connect(true); }, retryDelay * (0.5 + Math.random()));
    retryDelay = Math.min(retryDelay * 2, 30000);
  }

  function connect(again) {
    clearTimeout(retryTimer);
    if (source) source.close();
    setConn(again ? "reconnecting" : "connecting");
    var url = eventsUrl + (eventsUrl.indexOf("?") === -1 ? "?" : "&") + "lastEventId=" + encodeURIComponent(lastEventId);
    var stream = new EventSource(url);
    source = stream;

    stream.addEventListener("stream_open", function () {
      setConn("live");
      retryDelay = 2000;
      if (opened) Live.announce("live:resync", {}); // back after a drop: pages refresh what notifications don't cover
      opened = true;
    });
    stream.addEventListener("stream_error", function (event) {
      // Too many tabs: the server closed this one, the oldest; reconnecting would close the next.
      stop(Live.parse(event).code === "too_many_streams" ? "Paused: live in a newer tab" : "Signed out");
    });
    Object.keys(handlers).forEach(function (name) {
      stream.addEventListener(name, function (event) {
        if (event.lastEventId) lastEventId = event.lastEventId; // the browser's own position on this stream
        handlers[name].forEach(function (fn) { fn(event); });
      });
    });
    stream.onerror = function () {
      if (stream !== source || stopped) return;
      if (stream.readyState === EventSource.CONNECTING) {
        setConn("reconnecting"); // the browser retries by itself, sending Last-Event-ID
        return;
      }
      // The browser gave up (an HTTP error): signed out, or a server in trouble?
      setConn("reconnecting");
      Live.api("GET", Live.url("unread_count"))
        .then(function (r) {
          if (r.status === 401 || r.status === 403) stop("Signed out");
          else scheduleReconnect();
        })
        .catch(function () { setConn("offline"); scheduleReconnect(); });
    };
  }

  // Off the network the stream is dead even if the socket has not noticed yet: close it, and
  // open a new one when the network is back (it replays from the last position it got).
  window.addEventListener("offline", function () {
    clearTimeout(retryTimer);
    if (source) source.close();
    setConn("offline");
  });
  window.addEventListener("online", function () { if (!stopped) connect(true); });
  window.addEventListener("pagehide", function () { if (source) source.close(); });
  window.addEventListener("pageshow", function (event) { if (event.persisted && !stopped) connect(true); });

  // resume(): open a new stream from the latest position (after a reset's reload).
  Live.stream = { on: on, resume: function () { connect(true); } };

  // --- receipts: what reached this screen (notifications/receipts.py) --------------------------
  //
  // Ids are queued per state and sent in batches to one endpoint: the first ack of a quiet spell
  // after 50 ms (so a frame's delivered and seen go together, and the latency the server observes
  // is the frame's, not the batch's), then at most one a second, at 50 ids, and on pagehide. fetch with keepalive, not sendBeacon: it outlives the page the same way
  // and, unlike a beacon, sends the X-CSRFToken header the session's CSRF check needs.
  // The server sets each time once and only moves forward, so a repeat costs nothing.
  var RECEIPT_BATCH = 50;
  var RECEIPT_DELAY_MS = 1000;
  var RECEIPT_QUICK_MS = 50;
  var receiptQueue = { delivered: [], seen: [], clicked: [] };
  var receiptTimer = null;
  var receiptSentAt = 0;

  // The receipts door (notifications/receipts_door.py) takes the page's receipt token instead of
  // the session: no CSRF, no database work per ack. Once the token is refused (too old), the
  // page acks through the API for the rest of its life.
  var receiptsDoor = Boolean(Live.catalog.receipt_token);

  function postReceipts(body, door) {
    var headers = { "Content-Type": "application/json", "X-Requested-With": "fetch" };
    if (door) headers["X-Receipt-Token"] = Live.catalog.receipt_token;
    else headers["X-CSRFToken"] = Live.csrfToken();
    fetch(door ? Live.catalog.urls.receipts_door : Live.catalog.urls.receipts, {
      method: "POST", credentials: "same-origin", keepalive: true, headers: headers, body: body
    }).then(function (response) {
      if (door && response.status === 403) { receiptsDoor = false; postReceipts(body, false); }
    }).catch(function () {});
  }

  function sendReceipts() {
    clearTimeout(receiptTimer);
    receiptTimer = null;
    var body = {}, any = false;
    Object.keys(receiptQueue).forEach(function (state) {
      var ids = receiptQueue[state].splice(0, RECEIPT_BATCH);
      if (ids.length) { body[state] = ids; any = true; }
    });
    if (!any) return;
    receiptSentAt = Date.now();
    postReceipts(JSON.stringify(body), receiptsDoor);
    if (receiptQueue.delivered.length || receiptQueue.seen.length || receiptQueue.clicked.length) scheduleReceipts();
  }

  function scheduleReceipts() {
    if (receiptTimer) return;
    receiptTimer = setTimeout(sendReceipts, Math.max(RECEIPT_QUICK_MS, receiptSentAt + RECEIPT_DELAY_MS - Date.now()));
  }

  function receipt(state, id, now) {
    id = Number(id);
    if (!id || receiptQueue[state].indexOf(id) !== -1) return;
    receiptQueue[state].push(id);
    if (now || receiptQueue[state].length >= RECEIPT_BATCH) sendReceipts();
    else scheduleReceipts();
  }

  // Seen needs a visible tab (Page Visibility API): while hidden, ids wait for the tab to show.
  var seenWhenVisible = [];
  function visible() { return document.visibilityState === "visible"; }
  document.addEventListener("visibilitychange", function () {
    if (!visible()) return;
    seenWhenVisible.splice(0).forEach(function (id) { receipt("seen", id); });
  });

  Live.receipts = {
    delivered: function (id) { receipt("delivered", id); },
    // shown(id): on screen now if the tab is visible, else as soon as it becomes visible.
    shown: function (id) { if (visible()) receipt("seen", id); else if (seenWhenVisible.indexOf(Number(id)) === -1) seenWhenVisible.push(Number(id)); },
    // clicked(id): sent at once, since the page is about to go.
    clicked: function (id) { receipt("clicked", id, true); }
  };

  // Every notification frame this page receives, replays included, is delivered.
  on("notification", function (event) { Live.receipts.delivered(Live.parse(event).id); });
  window.addEventListener("pagehide", sendReceipts);

  document.addEventListener("DOMContentLoaded", function () { connect(false); });
})();
