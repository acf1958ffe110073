/*
 * The bell on every signed-in page: the unread badge (and the tab title), the dropdown,
 * marking read, and the toasts. Follows the stream's notification events, de-duplicates
 * notifications by id (a replay or a retried publish shows once), then announces each new
 * one to the page's own script as live:notification (and live:expired, live:resync).
 */
(function () {
  "use strict";

  var Live = window.Live;
  if (!Live) return;

  var TOAST_MS = 6000;
  var MAX_TOASTS = 4;
  var MAX_ITEMS = 20;

  var forEach = Live.forEach, el = Live.el, word = Live.word, api = Live.api, parse = Live.parse;
  var bell = Live.bell;
  var badge = document.getElementById("bell-badge");
  var panel = document.getElementById("bell-panel");
  var list = document.getElementById("bell-list");
  var empty = document.getElementById("bell-empty");
  var toasts = document.getElementById("toasts");
  var baseTitle = document.title;

  var seen = new Set();
  var unread = parseInt(bell.getAttribute("data-unread"), 10) || 0;

  forEach(document.querySelectorAll("[data-notification-id]"), function (node) {
    seen.add(Number(node.getAttribute("data-notification-id")));
  });

  // --- the badge ---------------------------------------------------------------------------

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
      api("GET", Live.url("unread_count"))
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (body) { if (body && typeof body.count === "number") setCount(body.count); })
        .catch(function () {});
    }, 200);
  }

  // --- the dropdown ---------------------------------------------------------------------------

  function buildItem(n) {
    var li = el("li", "bell-item prio-" + word(n.priority, Live.catalog.default_priority) + (n.is_read ? "" : " is-unread"));
    li.setAttribute("data-notification-id", String(n.id));
    var link = el("a", "bell-link");
    link.href = Live.safeUrl(n.action_url);
    link.setAttribute("data-notification-link", String(n.id));
    link.appendChild(Live.typeIcon(n.notification_type));
    var text = el("span", "bell-text");
    text.appendChild(el("span", "bell-title", n.title));
    text.appendChild(el("span", "bell-message", n.message));
    var time = el("time", "ago", Live.ago(n.created_at));
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
    if (open) {
      Live.refreshTimes(panel);
      // The dropdown is on screen: what it lists is seen.
      forEach(list.querySelectorAll("[data-notification-id]"), function (item) {
        Live.receipts.shown(item.getAttribute("data-notification-id"));
      });
    }
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
    return api("POST", Live.url("read", id)).catch(function () {});
  }

  function openNotification(id, url) {
    var go = function () { window.location.assign(Live.safeUrl(url)); };
    var timer = setTimeout(go, 1500); // never strand the user on a slow request
    markRead(id).then(function () { clearTimeout(timer); go(); });
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("[data-notification-link]") : null;
    if (!link) return;
    var id = link.getAttribute("data-notification-link");
    Live.receipts.clicked(id);
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
      api("POST", Live.url("read_all")).catch(function () { readAll.submit(); });
    });
  }

  // --- toasts ----------------------------------------------------------------------------------

  function dismiss(toast) {
    if (!toast.parentNode || toast.classList.contains("is-leaving")) return;
    clearTimeout(toast._timer);
    toast.classList.add("is-leaving");
    setTimeout(function () { toast.remove(); }, 220);
  }

  function showToast(n) {
    var toast = el("div", "toast prio-" + word(n.priority, Live.catalog.default_priority));
    toast.setAttribute("data-toast-id", String(n.id));
    toast.setAttribute("data-type", word(n.notification_type, "other"));
    toast.appendChild(Live.typeIcon(n.notification_type));
    var text = el("div", "toast-text");
    text.appendChild(el("span", "toast-title", n.title));
    if (n.message) text.appendChild(el("span", "toast-message", n.message));
    toast.appendChild(text);
    var close = el("button", "toast-close");
    close.type = "button";
    close.setAttribute("aria-label", "Dismiss notification");
    close.appendChild(Live.icon("close"));
    toast.appendChild(close);

    close.addEventListener("click", function (event) { event.stopPropagation(); dismiss(toast); });
    toast.addEventListener("click", function () { dismiss(toast); Live.receipts.clicked(n.id); openNotification(n.id, n.action_url); });
    var arm = function () { clearTimeout(toast._timer); toast._timer = setTimeout(function () { dismiss(toast); }, TOAST_MS); };
    toast.addEventListener("mouseenter", function () { clearTimeout(toast._timer); });
    toast.addEventListener("mouseleave", arm);
    toast.addEventListener("focusin", function () { clearTimeout(toast._timer); });
    toast.addEventListener("focusout", arm);

    toasts.appendChild(toast);
    Live.receipts.shown(n.id); // seen now if the tab is visible, else when it becomes visible
    var live = toasts.querySelectorAll(".toast:not(.is-leaving)");
    for (var i = 0; i < live.length - MAX_TOASTS; i++) dismiss(live[i]);
    arm();
  }

  // --- the stream's notification events ---------------------------------------------------------

  Live.stream.on("notification", function (event) {
    var n = parse(event);
    var id = Number(n.id);
    if (!id) return;
    if (seen.has(id)) return; // a replay or a retried publish
    seen.add(id);
    n.priority = Live.priority(n.priority);
    addToDropdown(n);
    if (!n.is_read) {
      setCount(unread + 1, true);
      showToast(n);
    }
    Live.announce("live:notification", n);
  });

  Live.stream.on("unread_count", function (event) { setCount(parse(event).count); });
  Live.stream.on("notification_read", function (event) { markItemRead(parse(event).id); });
  Live.stream.on("notifications_read_all", markAllRead);

  Live.stream.on("notification_expired", function (event) {
    var data = parse(event);
    (data.ids || []).forEach(function (id) { seen.add(Number(id)); removeNotification(id); });
    refreshCountSoon();
    Live.announce("live:expired", data);
  });

  Live.stream.on("stream_reset", function () {
    // Too much was missed to replay: reload the latest from the API, then resume from the
    // position the reset carries (read before the reload, so nothing falls in between).
    api("GET", Live.url("notifications"))
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
        Live.announce("live:resync", {});
        Live.stream.resume();
      })
      .catch(function () {});
  });

  setCount(unread);
})();
