/*
 * The live parts of every page: the bell and its dropdown, toasts, the connection
 * indicator, and small updates to the job page, the job board and "My bids".
 *
 * Progressive enhancement: every link and form on the page works without this file.
 * One EventSource per page on /events/. The page was rendered with the unread count
 * and the latest notifications; the stream starts at the user's delivery sequence
 * read before them (?lastEventId=), so whatever was stored in between is replayed.
 * The SSE id is the stream's position in that sequence (not a notification id): the
 * browser resends it as Last-Event-ID when it reconnects, and so does connect() below.
 * Notifications are de-duplicated by id. Their text only ever goes in through
 * textContent.
 */
(function () {
  "use strict";

  var bell = document.getElementById("bell");
  if (!bell || typeof window.EventSource !== "function" || !window.fetch) return;

  var TOAST_MS = 6000;
  var MAX_TOASTS = 4;
  var MAX_ITEMS = 20;
  var PRIORITIES = { low: 1, medium: 1, high: 1, urgent: 1 };

  var badge = document.getElementById("bell-badge");
  var panel = document.getElementById("bell-panel");
  var list = document.getElementById("bell-list");
  var empty = document.getElementById("bell-empty");
  var conn = document.getElementById("conn");
  var toasts = document.getElementById("toasts");
  var eventsUrl = bell.getAttribute("data-events-url") || "/events/";
  var baseTitle = document.title;

  var seen = new Set();
  var lastEventId = bell.getAttribute("data-last-event-id") || "0";
  var unread = parseInt(bell.getAttribute("data-unread"), 10) || 0;
  var source = null;
  var retryTimer = null;
  var retryDelay = 2000;
  var signedOut = false;
  var opened = false;

  forEach(document.querySelectorAll("[data-notification-id]"), function (node) {
    seen.add(Number(node.getAttribute("data-notification-id")));
  });

  // --- small helpers ---------------------------------------------------------------

  function forEach(nodes, fn) { Array.prototype.forEach.call(nodes, fn); }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function word(value, fallback) {
    // Only [a-z_] survives into a class name or an icon id.
    return typeof value === "string" && /^[a-z_]{1,40}$/.test(value) ? value : fallback;
  }

  function safeUrl(url) {
    // A local path only: never "//host", "javascript:" or anything with a backslash.
    return typeof url === "string" && /^\/(?![\/\\])/.test(url) && url.indexOf("\\") === -1 ? url : "/notifications/";
  }

  function icon(name) {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("class", "icon");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var use = document.createElementNS(ns, "use");
    use.setAttribute("href", "#i-" + (document.getElementById("i-" + name) ? name : "bell"));
    svg.appendChild(use);
    return svg;
  }

  function typeIcon(type) {
    var wrap = el("span", "type-icon type-" + word(type, "other"));
    wrap.appendChild(icon(word(type, "bell")));
    return wrap;
  }

  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (match) return decodeURIComponent(match[1]);
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function api(method, url) {
    return fetch(url, {
      method: method,
      credentials: "same-origin",
      keepalive: method === "POST",
      headers: { "Accept": "application/json", "X-CSRFToken": csrfToken(), "X-Requested-With": "fetch" }
    });
  }

  function parse(event) {
    try { return JSON.parse(event.data); } catch (err) { return {}; }
  }

  function ago(iso) {
    var then = Date.parse(iso);
    if (isNaN(then)) return "";
    var s = Math.max(0, (Date.now() - then) / 1000);
    if (s < 45) return "just now";
    if (s < 3600) return Math.round(s / 60) + " min ago";
    if (s < 86400) return Math.round(s / 3600) + " h ago";
    if (s < 7 * 86400) { var d = Math.round(s / 86400); return d + (d === 1 ? " day ago" : " days ago"); }
    return new Date(then).toLocaleDateString(undefined, { day: "numeric", month: "short", year: "numeric" });
  }

  function refreshTimes(root) {
    forEach((root || document).querySelectorAll("time.ago[datetime]"), function (t) {
      var text = ago(t.getAttribute("datetime"));
      if (text) t.textContent = text;
    });
  }

  function announce(name, detail) {
    document.dispatchEvent(new CustomEvent(name, { detail: detail }));
  }

  // --- the badge and the connection indicator ----------------------------------------

  function setCount(count, bump) {
    unread = Math.max(0, Number(count) || 0);
    badge.textContent = unread > 99 ? "99+" : String(unread);
    badge.hidden = unread === 0;
    bell.setAttribute("aria-label", "Notifications, " + unread + " unread");
    bell.setAttribute("data-unread", String(unread));
    document.title = (unread ? "(" + (unread > 99 ? "99+" : unread) + ") " : "") + baseTitle;
    if (bump) {
      badge.classList.remove("bump");
      void badge.offsetWidth; // restart the animation
      badge.classList.add("bump");
    }
  }

  var countTimer = null;
  function refreshCountSoon() {
    clearTimeout(countTimer);
    countTimer = setTimeout(function () {
      api("GET", "/api/notifications/unread-count/")
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (body) { if (body && typeof body.count === "number") setCount(body.count); })
        .catch(function () {});
    }, 200);
  }

  var CONN_LABELS = { connecting: "Connecting", live: "Live", reconnecting: "Reconnecting…", offline: "Offline" };
  function setConn(state, detail) {
    conn.setAttribute("data-state", state);
    conn.querySelector(".conn-label").textContent = detail || CONN_LABELS[state];
    conn.title = "Live updates: " + (detail || CONN_LABELS[state]).toLowerCase();
  }

  // --- the dropdown ---------------------------------------------------------------------

  function buildItem(n) {
    var li = el("li", "bell-item prio-" + word(n.priority, "medium") + (n.is_read ? "" : " is-unread"));
    li.setAttribute("data-notification-id", String(n.id));
    var link = el("a", "bell-link");
    link.href = safeUrl(n.action_url);
    link.setAttribute("data-notification-link", String(n.id));
    link.appendChild(typeIcon(n.notification_type));
    var text = el("span", "bell-text");
    text.appendChild(el("span", "bell-title", n.title));
    text.appendChild(el("span", "bell-message", n.message));
    var time = el("time", "ago", ago(n.created_at));
    time.setAttribute("datetime", String(n.created_at || ""));
    text.appendChild(time);
    link.appendChild(text);
    var dot = el("span", "unread-dot");
    dot.appendChild(el("span", "sr-only", "Unread"));
    dot.hidden = !!n.is_read;
    link.appendChild(dot);
    li.appendChild(link);
    return li;
  }

  function addToDropdown(n) {
    var item = buildItem(n);
    // Newest first: ids grow with time, so keep the list ordered by id.
    var before = null;
    forEach(list.children, function (child) {
      if (!before && Number(child.getAttribute("data-notification-id")) < Number(n.id)) before = child;
    });
    list.insertBefore(item, before);
    while (list.children.length > MAX_ITEMS) list.removeChild(list.lastElementChild);
    empty.hidden = list.children.length > 0;
  }

  function markItemRead(id) {
    forEach(document.querySelectorAll('[data-notification-id="' + Number(id) + '"]'), markNodeRead);
  }

  function markNodeRead(node) {
    node.classList.remove("is-unread");
    forEach(node.querySelectorAll(".unread-dot"), function (dot) { dot.hidden = true; });
    forEach(node.querySelectorAll("form[data-mark-read]"), function (form) { form.remove(); });
  }

  function markAllRead() {
    forEach(document.querySelectorAll("[data-notification-id].is-unread"), markNodeRead);
  }

  function removeNotification(id) {
    forEach(document.querySelectorAll('[data-notification-id="' + Number(id) + '"], [data-toast-id="' + Number(id) + '"]'), function (node) {
      node.remove();
    });
    empty.hidden = list.children.length > 0;
  }

  function openPanel(open) {
    panel.hidden = !open;
    bell.setAttribute("aria-expanded", open ? "true" : "false");
    if (open) refreshTimes(panel);
  }

  bell.setAttribute("role", "button");
  bell.addEventListener("click", function (event) {
    event.preventDefault();
    openPanel(panel.hidden);
  });
  bell.addEventListener("keydown", function (event) {
    if (event.key === " ") { event.preventDefault(); openPanel(panel.hidden); }
  });
  document.addEventListener("click", function (event) {
    if (!panel.hidden && !panel.contains(event.target) && !bell.contains(event.target)) openPanel(false);
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && !panel.hidden) { openPanel(false); bell.focus(); }
  });

  // Opening a notification marks it read first (so the badge in every tab follows), then goes there.
  function markRead(id) {
    var wasUnread = !!document.querySelector('[data-notification-id="' + Number(id) + '"].is-unread');
    markItemRead(id);
    if (wasUnread) setCount(unread - 1);
    return api("POST", "/api/notifications/" + Number(id) + "/read/").catch(function () {});
  }

  function openNotification(id, url) {
    var go = function () { window.location.assign(safeUrl(url)); };
    var timer = setTimeout(go, 1500); // never strand the user on a slow request
    markRead(id).then(function () { clearTimeout(timer); go(); });
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("[data-notification-link]") : null;
    if (!link) return;
    var id = link.getAttribute("data-notification-link");
    if (event.ctrlKey || event.metaKey || event.shiftKey || event.button === 1) { markRead(id); return; }
    event.preventDefault();
    openNotification(id, link.getAttribute("href"));
  });

  var readAll = document.getElementById("bell-read-all");
  if (readAll) {
    readAll.addEventListener("submit", function (event) {
      event.preventDefault();
      markAllRead();
      setCount(0);
      api("POST", "/api/notifications/read-all/").catch(function () { readAll.submit(); });
    });
  }

  // --- toasts ----------------------------------------------------------------------------

  function dismiss(toast) {
    if (!toast.parentNode || toast.classList.contains("is-leaving")) return;
    clearTimeout(toast._timer);
    toast.classList.add("is-leaving");
    setTimeout(function () { toast.remove(); }, 220);
  }

  function showToast(n) {
    var toast = el("div", "toast prio-" + word(n.priority, "medium"));
    toast.setAttribute("data-toast-id", String(n.id));
    toast.setAttribute("data-type", word(n.notification_type, "other"));
    toast.appendChild(typeIcon(n.notification_type));
    var text = el("div", "toast-text");
    text.appendChild(el("span", "toast-title", n.title));
    if (n.message) text.appendChild(el("span", "toast-message", n.message));
    toast.appendChild(text);
    var close = el("button", "toast-close");
    close.type = "button";
    close.setAttribute("aria-label", "Dismiss notification");
    close.appendChild(icon("close"));
    toast.appendChild(close);

    close.addEventListener("click", function (event) { event.stopPropagation(); dismiss(toast); });
    toast.addEventListener("click", function () { dismiss(toast); openNotification(n.id, n.action_url); });
    var arm = function () { clearTimeout(toast._timer); toast._timer = setTimeout(function () { dismiss(toast); }, TOAST_MS); };
    toast.addEventListener("mouseenter", function () { clearTimeout(toast._timer); });
    toast.addEventListener("mouseleave", arm);
    toast.addEventListener("focusin", function () { clearTimeout(toast._timer); });
    toast.addEventListener("focusout", arm);

    toasts.appendChild(toast);
    var live = toasts.querySelectorAll(".toast:not(.is-leaving)");
    for (var i = 0; i < live.length - MAX_TOASTS; i++) dismiss(live[i]);
    arm();
  }

  // --- the stream --------------------------------------------------------------------------

  function onNotification(event) {
    var n = parse(event);
    var id = Number(n.id);
    if (event.lastEventId) lastEventId = event.lastEventId;
    if (!id) return;
    if (seen.has(id)) return; // a replay or a retried publish
    seen.add(id);
    if (!PRIORITIES[n.priority]) n.priority = "medium";
    addToDropdown(n);
    if (!n.is_read) {
      setCount(unread + 1, true);
      showToast(n);
    }
    announce("live:notification", n);
  }

  function onExpired(event) {
    var data = parse(event);
    (data.ids || []).forEach(function (id) { seen.add(Number(id)); removeNotification(id); });
    refreshCountSoon();
    announce("live:expired", data);
  }

  function onReset(event) {
    // Too much was missed to replay: reload the latest from the API, then resume from the
    // position the reset carries (read before the reload, so nothing falls in between).
    if (event.lastEventId) lastEventId = event.lastEventId;
    api("GET", "/api/notifications/")
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        if (!body) return;
        while (list.firstChild) list.removeChild(list.firstChild);
        (body.results || []).slice(0, MAX_ITEMS).forEach(function (n) {
          seen.add(Number(n.id));
          addToDropdown(n);
        });
        empty.hidden = list.children.length > 0;
        refreshCountSoon();
        announce("live:resync", {});
        connect(true);
      })
      .catch(function () {});
  }

  function scheduleReconnect() {
    clearTimeout(retryTimer);
    retryTimer = setTimeout(function () { connect(true); }, retryDelay);
    retryDelay = Math.min(retryDelay * 2, 30000);
  }

  function connect(again) {
    clearTimeout(retryTimer);
    if (source) source.close();
    setConn(again ? "reconnecting" : "connecting");
    var url = eventsUrl + (eventsUrl.indexOf("?") === -1 ? "?" : "&") + "lastEventId=" + encodeURIComponent(lastEventId);
    var stream = new EventSource(url);
    source = stream;

    stream.addEventListener("stream-open", function () {
      setConn("live");
      retryDelay = 2000;
      if (opened) announce("live:resync", {}); // back after a drop: pages refresh what notifications don't cover
      opened = true;
    });
    stream.addEventListener("notification", onNotification);
    stream.addEventListener("unread_count", function (event) { setCount(parse(event).count); });
    stream.addEventListener("notification_read", function (event) { markItemRead(parse(event).id); });
    stream.addEventListener("notifications_read_all", markAllRead);
    stream.addEventListener("notification_expired", onExpired);
    stream.addEventListener("stream-reset", onReset);
    stream.addEventListener("stream-error", function (event) {
      signedOut = true;
      stream.close();
      // Too many tabs: the server closed this one, the oldest; reconnecting would close the next.
      setConn("offline", parse(event).code === "too_many_streams" ? "Paused: live in a newer tab" : "Signed out");
    });
    stream.onerror = function () {
      if (stream !== source || signedOut) return;
      if (stream.readyState === EventSource.CONNECTING) {
        setConn("reconnecting"); // the browser retries by itself, sending Last-Event-ID
        return;
      }
      // The browser gave up (an HTTP error): signed out, or a server in trouble?
      setConn("reconnecting");
      api("GET", "/api/notifications/unread-count/")
        .then(function (r) {
          if (r.status === 401 || r.status === 403) {
            signedOut = true;
            setConn("offline", "Signed out");
          } else {
            scheduleReconnect();
          }
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
  window.addEventListener("online", function () { if (!signedOut) connect(true); });
  window.addEventListener("pagehide", function () { if (source) source.close(); });
  window.addEventListener("pageshow", function (event) { if (event.persisted && !signedOut) connect(true); });

  // --- page parts that follow the stream -------------------------------------------------

  var inflight = {};
  function refreshFragment(name, markNew) {
    var current = document.querySelector('[data-fragment="' + name + '"]');
    if (!current) return;
    if (inflight[name]) { inflight[name] = "again"; return; }
    inflight[name] = true;
    fetch(current.getAttribute("data-fragment-url"), {
      credentials: "same-origin",
      headers: { "X-Requested-With": "fetch" },
      cache: "no-store"
    })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null) return;
        // Server-rendered, autoescaped HTML; parsed inertly, then swapped in.
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.querySelector('[data-fragment="' + name + '"]');
        current = document.querySelector('[data-fragment="' + name + '"]');
        if (!fresh || !current) return;
        keepTyping(current, fresh);
        if (markNew) {
          forEach(fresh.querySelectorAll(markNew), function (node) {
            var key = node.getAttribute("data-bid-id") || node.getAttribute("data-job-id");
            var attr = node.hasAttribute("data-bid-id") ? "data-bid-id" : "data-job-id";
            if (!current.querySelector("[" + attr + '="' + key + '"]')) node.classList.add("is-new");
          });
        }
        var focusedName = document.activeElement && current.contains(document.activeElement) ? document.activeElement.name : null;
        fresh = document.importNode(fresh, true);
        current.replaceWith(fresh);
        refreshTimes(fresh);
        if (focusedName) {
          var again = fresh.querySelector('[name="' + focusedName + '"]');
          if (again) again.focus();
        }
      })
      .catch(function () {})
      .then(function () {
        var repeat = inflight[name] === "again";
        inflight[name] = false;
        if (repeat) refreshFragment(name, markNew);
      });
  }

  function keepTyping(current, fresh) {
    // Whatever the user typed in a form being refreshed carries over.
    forEach(current.querySelectorAll("input[name], textarea[name]"), function (field) {
      if (field.type === "hidden" || field.value === field.defaultValue) return;
      var twin = fresh.querySelector('[name="' + field.name + '"]');
      if (twin) twin.value = field.value;
    });
  }

  var jobPage = document.querySelector("[data-live-job]");
  if (jobPage) {
    var jobId = Number(jobPage.getAttribute("data-live-job"));
    var forJob = function (n) { return n && n.metadata && Number(n.metadata.job_id) === jobId; };
    document.addEventListener("live:notification", function (event) {
      var n = event.detail;
      if (!forJob(n)) return;
      if (n.notification_type === "message_received") { refreshFragment("messages"); return; }
      if (n.notification_type !== "bid_received") refreshFragment("status");
      refreshFragment("bids", ".bid[data-bid-id]");
    });
    document.addEventListener("live:expired", function (event) {
      if (Number(event.detail.job_id) === jobId) { refreshFragment("status"); refreshFragment("bids"); }
    });
    document.addEventListener("live:resync", function () {
      refreshFragment("status"); refreshFragment("bids"); refreshFragment("messages");
    });
  }

  var board = document.querySelector("[data-live-board]");
  if (board) {
    var BOARD_TYPES = { job_created: 1, job_cancelled: 1, bid_accepted: 1, bid_rejected: 1 };
    document.addEventListener("live:notification", function (event) {
      if (BOARD_TYPES[event.detail.notification_type]) refreshFragment("board", ".job-card[data-job-id]");
    });
    document.addEventListener("live:expired", function (event) {
      // The job was taken: drop its card at once, then let the server recount.
      forEach(document.querySelectorAll('[data-live-board] [data-job-id="' + Number(event.detail.job_id) + '"]'), function (card) {
        card.remove();
      });
      refreshFragment("board");
    });
    document.addEventListener("live:resync", function () { refreshFragment("board"); });
  }

  var myBids = document.querySelector("[data-live-bids]");
  if (myBids) {
    var BID_STATES = { bid_accepted: ["accepted", "Accepted"], bid_rejected: ["rejected", "Rejected"] };
    document.addEventListener("live:notification", function (event) {
      var n = event.detail;
      var state = BID_STATES[n.notification_type];
      if (!state || !n.metadata) return;
      forEach(myBids.querySelectorAll('[data-bid-id="' + Number(n.metadata.bid_id) + '"]'), function (card) {
        card.className = card.className.replace(/\bbid-is-\w+/, "bid-is-" + state[0]);
        var pill = card.querySelector("[data-bid-status]");
        if (pill) { pill.className = "pill bid-" + state[0]; pill.textContent = state[1]; }
        forEach(card.querySelectorAll("form[data-withdraw]"), function (form) { form.remove(); });
      });
    });
  }

  var newBanner = document.getElementById("list-new");
  if (newBanner) {
    document.addEventListener("live:notification", function () { newBanner.hidden = false; });
  }

  // A form sent back with errors: bring its summary into view for keyboard and screen-reader users.
  var problem = document.querySelector("[data-autofocus]");
  if (problem) problem.focus();

  // --- start -----------------------------------------------------------------------------

  setCount(unread);
  refreshTimes();
  setInterval(refreshTimes, 30000);
  connect(false);
})();
