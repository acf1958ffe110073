/*
 * The bell on every signed-in page: the unread badge (and the tab title), the dropdown,
 * marking read, and the toasts. Follows the stream's notification events, de-duplicates
 * notifications by id (a replay or a retried publish shows once), then announces each new
 * one to the page's own script as live:notification (and live:expired, live:resync).
 *
 * Groups (notifications sharing a group_key, e.g. the bids on one job): one dropdown entry with
 * the server's summary line and its members under a <details>. A new member joins its entry at
 * once and the entry is re-read from the API (GET groups/<key>/: the summary is worded on the
 * server only) and announced as live:group. Toasts coalesce per group: the first member shows
 * at once, later ones within GROUP_TOAST_MS of the last update the same toast to the summary.
 * The badge counts notifications, like the stream's unread_count.
 */
(function () {
  "use strict";

  var Live = window.Live;
  if (!Live) return;

  var TOAST_MS = 6000;
  var MAX_TOASTS = 4;
  var MAX_ITEMS = 20;
  var GROUP_TOAST_MS = 3000;
  var GROUP_REFRESH_MS = 150;

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
  // A group entry rendered without its members' rows: their ids (a replay of one is not new).
  forEach(document.querySelectorAll("[data-member-ids]"), function (node) {
    node.getAttribute("data-member-ids").split(",").forEach(function (id) { if (Number(id)) seen.add(Number(id)); });
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
    if (groupKey(n.group_key)) li.setAttribute("data-grouped", n.group_key);
    var link = buildLink(n, el("span", "bell-title", n.title), !n.is_read);
    link.setAttribute("data-notification-link", String(n.id));
    li.appendChild(link);
    return li;
  }

  // One entry's link: the notification's icon, a title (its own, or a group's summary), its
  // message and time, and the unread dot.
  function buildLink(n, title, unread) {
    var link = el("a", "bell-link");
    link.href = Live.safeUrl(n.action_url);
    link.appendChild(Live.typeIcon(n.notification_type));
    var text = el("span", "bell-text");
    text.appendChild(title);
    text.appendChild(el("span", "bell-message", n.message));
    var time = el("time", "ago", Live.ago(n.created_at));
    time.setAttribute("datetime", String(n.created_at || ""));
    text.appendChild(time);
    link.appendChild(text);
    var dot = el("span", "unread-dot");
    dot.appendChild(el("span", "sr-only", "Unread"));
    dot.hidden = !unread;
    link.appendChild(dot);
    return link;
  }

  // --- groups ---------------------------------------------------------------------------------

  function groupKey(value) {
    // Keys are the server's (catalog.GROUP_KEYS): letters, digits, "_" and ":".
    return typeof value === "string" && /^[a-z0-9_:]{1,100}$/.test(value) ? value : null;
  }

  function entryLatest(entry) {
    return Number(entry.getAttribute("data-notification-id") || entry.getAttribute("data-latest-id")) || 0;
  }

  function entryFor(key) {
    // The dropdown's top-level entry of a group: a group node, or its one member shown alone.
    var found = null;
    forEach(list.children, function (child) {
      if (!found && (child.getAttribute("data-group-key") === key || child.getAttribute("data-grouped") === key)) found = child;
    });
    return found;
  }

  function buildGroup(g) {
    if (!(g.count > 1) || !groupKey(g.key)) return buildItem(g.latest);
    var n = g.latest;
    var li = el("li", "bell-group prio-" + word(Live.priority(n.priority), Live.catalog.default_priority) + (g.unread_count ? " is-unread" : ""));
    li.setAttribute("data-group-key", g.key);
    li.setAttribute("data-group-count", String(g.count));
    li.setAttribute("data-latest-id", String(n.id));
    var summary = el("span", "bell-title", g.summary);
    summary.setAttribute("data-group-summary", "");
    var link = buildLink(n, summary, Boolean(g.unread_count));
    link.setAttribute("data-group-link", g.key);
    li.appendChild(link);
    var more = el("details", "bell-group-more");
    var toggle = el("summary", "", "Show all " + g.count);
    toggle.setAttribute("data-group-toggle", "");
    more.appendChild(toggle);
    var members = el("ul", "bell-members");
    (g.members || []).forEach(function (m) { members.appendChild(buildItem(m)); });
    more.appendChild(members);
    if ((g.members || []).length < g.count) {
      var all = el("a", "bell-group-all", "See all " + g.count);
      all.href = Live.catalog.urls.list_page + "?group=" + encodeURIComponent(g.key);
      more.appendChild(all);
    }
    if (g.unread_count) {
      var form = el("form");
      form.method = "post";
      form.action = Live.catalog.urls.group_read_form.replace("{key}", encodeURIComponent(g.key));
      form.setAttribute("data-group-read", g.key);
      var csrf = el("input");
      csrf.type = "hidden"; csrf.name = "csrfmiddlewaretoken"; csrf.value = Live.csrfToken();
      form.appendChild(csrf);
      var button = el("button", "linklike", "Mark these read");
      button.type = "submit";
      form.appendChild(button);
      more.appendChild(form);
    }
    li.appendChild(more);
    return li;
  }

  function placeEntry(entry) {
    // Newest first: ids grow with time, so keep the entries ordered by their latest id.
    var latest = entryLatest(entry);
    var before = null;
    forEach(list.children, function (child) {
      if (!before && child !== entry && entryLatest(child) < latest) before = child;
    });
    list.insertBefore(entry, before);
    while (list.children.length > MAX_ITEMS) list.removeChild(list.lastElementChild);
    empty.hidden = list.children.length > 0;
  }

  // Re-read a group from the API (debounced per key) and put it in place; null when it has no live member.
  var groupTimers = {};
  function refreshGroup(key, delay) {
    clearTimeout(groupTimers[key]);
    groupTimers[key] = setTimeout(function () {
      delete groupTimers[key];
      api("GET", Live.catalog.urls.group.replace("{key}", encodeURIComponent(key)))
        .then(function (r) { return r.ok ? r.json() : r.status === 404 ? { key: key, count: 0 } : null; })
        .then(function (g) {
          if (!g) return;
          var old = entryFor(key);
          var open = old && old.querySelector("details[open]");
          if (!g.count) { if (old) old.remove(); empty.hidden = list.children.length > 0; }
          else {
            var entry = buildGroup(g);
            if (open && entry.querySelector("details")) entry.querySelector("details").open = true;
            if (old) list.replaceChild(entry, old);
            placeEntry(entry);
            if (!panel.hidden) {
              Live.refreshTimes(entry);
              markShown(entry);
            }
            updateGroupToast(g);
          }
          Live.announce("live:group", g);
        })
        .catch(function () {});
    }, delay === undefined ? GROUP_REFRESH_MS : delay);
  }

  // A group rendered without its members (the server leaves them out of every page): loaded when opened.
  document.addEventListener("toggle", function (event) {
    var details = event.target;
    if (!details.open || !details.hasAttribute || !details.hasAttribute("data-lazy-members") || !list.contains(details)) return;
    details.removeAttribute("data-lazy-members");
    var key = groupOf(details);
    if (key) refreshGroup(key, 0);
  }, true); // toggle does not bubble

  function addToDropdown(n) {
    var key = groupKey(n.group_key);
    var entry = key ? entryFor(key) : null;
    if (entry) {
      // A new member of a group already listed: in its entry now, then the entry re-read.
      var members = entry.querySelector(".bell-members");
      if (members && !members.querySelector('[data-notification-id="' + Number(n.id) + '"]')) {
        members.insertBefore(buildItem(n), members.firstChild);
        entry.setAttribute("data-latest-id", String(n.id));
        if (!n.is_read) entry.classList.add("is-unread");
        placeEntry(entry);
      }
      refreshGroup(key);
      return;
    }
    placeEntry(buildItem(n));
  }

  function groupOf(node) {
    var group = node.closest ? node.closest("[data-group-key]") : null;
    return group && groupKey(group.getAttribute("data-group-key"));
  }

  function markItemRead(id) {
    forEach(document.querySelectorAll('[data-notification-id="' + Number(id) + '"]'), function (node) {
      markNodeRead(node);
      var key = groupOf(node);
      if (key && list.contains(node)) refreshGroup(key); // its summary says how many are new
    });
  }

  function markNodeRead(node) {
    node.classList.remove("is-unread");
    forEach(node.querySelectorAll(".unread-dot"), function (dot) { dot.hidden = true; });
    forEach(node.querySelectorAll("form[data-mark-read]"), function (form) { form.remove(); });
  }

  function markAllRead() {
    forEach(document.querySelectorAll("[data-notification-id].is-unread, [data-group-key].is-unread"), markNodeRead);
    forEach(list.querySelectorAll("[data-group-key]"), function (entry) { refreshGroup(entry.getAttribute("data-group-key")); });
  }

  function removeNotification(id) {
    forEach(document.querySelectorAll('[data-notification-id="' + Number(id) + '"], [data-toast-id="' + Number(id) + '"]'), function (node) {
      var key = groupOf(node);
      node.remove();
      if (key) refreshGroup(key);
    });
    empty.hidden = list.children.length > 0;
  }

  function markShown(root) {
    // The dropdown is on screen: what it lists is seen; a group's entry shows its newest
    // member's text (and its other members once they are listed under it).
    forEach(root.querySelectorAll("[data-notification-id], [data-group-key][data-latest-id]"), function (item) {
      Live.receipts.shown(item.getAttribute("data-notification-id") || item.getAttribute("data-latest-id"));
    });
    if (root.hasAttribute && root.hasAttribute("data-latest-id")) Live.receipts.shown(root.getAttribute("data-latest-id"));
  }

  function openPanel(open) {
    panel.hidden = !open;
    bell.setAttribute("aria-expanded", open ? "true" : "false");
    if (open) {
      Live.refreshTimes(panel);
      markShown(list);
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

  // A group's entry: following it marks the whole group read, then goes where its newest member points.
  function markGroupRead(key) {
    var unreadMembers = 0;
    forEach(document.querySelectorAll('[data-group-key="' + key + '"]'), function (entry) {
      unreadMembers = Math.max(unreadMembers, entry.querySelectorAll("[data-notification-id].is-unread").length);
      forEach(entry.querySelectorAll("[data-notification-id].is-unread"), markNodeRead);
      forEach(entry.querySelectorAll("form[data-group-read]"), function (form) { form.remove(); });
      markNodeRead(entry);
    });
    if (unreadMembers) setCount(unread - unreadMembers);
    return api("POST", Live.catalog.urls.group_read.replace("{key}", encodeURIComponent(key))).then(function (r) {
      refreshCountSoon(); // members not listed under the entry may have been unread too
      return r;
    });
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("[data-group-link]") : null;
    if (!link) return;
    var key = groupKey(link.getAttribute("data-group-link"));
    if (!key) return;
    var url = link.getAttribute("href");
    forEach(link.parentNode.querySelectorAll("[data-notification-id]"), function (item) { Live.receipts.clicked(item.getAttribute("data-notification-id")); });
    if (event.ctrlKey || event.metaKey || event.shiftKey || event.button === 1) { markGroupRead(key).catch(function () {}); return; }
    event.preventDefault();
    var go = function () { window.location.assign(Live.safeUrl(url)); };
    var timer = setTimeout(go, 1500);
    markGroupRead(key).catch(function () {}).then(function () { clearTimeout(timer); go(); });
  });

  document.addEventListener("submit", function (event) {
    var form = event.target.closest ? event.target.closest("form[data-group-read]") : null;
    var key = form && groupKey(form.getAttribute("data-group-read"));
    if (!key) return;
    event.preventDefault();
    markGroupRead(key).then(function (r) { if (!r.ok) form.submit(); }).catch(function () { form.submit(); });
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

  // One toast per group within GROUP_TOAST_MS of its last member: key -> {toast, until, count}.
  var groupToasts = {};

  function coalesceToast(n) {
    var key = groupKey(n.group_key);
    var open = key && groupToasts[key];
    if (!open || !open.toast.parentNode || open.toast.classList.contains("is-leaving") || Date.now() > open.until) return false;
    open.until = Date.now() + GROUP_TOAST_MS;
    open.count += 1;
    open.toast._latest = n;
    open.toast.setAttribute("data-toast-count", String(open.count));
    var message = open.toast.querySelector(".toast-message");
    if (message) message.textContent = n.message || "";
    Live.receipts.shown(n.id); // counted in the toast's line
    open.toast._arm();
    return true;
  }

  function updateGroupToast(g) {
    var open = groupToasts[g.key];
    if (open && open.count > 1 && open.toast.parentNode) {
      open.toast.querySelector(".toast-title").textContent = g.summary;
    }
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
    toast._latest = n;
    toast.addEventListener("click", function () {
      var latest = toast._latest;
      dismiss(toast); Live.receipts.clicked(latest.id); openNotification(latest.id, latest.action_url);
    });
    var arm = function () { clearTimeout(toast._timer); toast._timer = setTimeout(function () { dismiss(toast); }, TOAST_MS); };
    toast._arm = arm;
    var key = groupKey(n.group_key);
    if (key) {
      toast.setAttribute("data-toast-group", key);
      toast.setAttribute("data-toast-count", "1");
      groupToasts[key] = { toast: toast, until: Date.now() + GROUP_TOAST_MS, count: 1 };
    }
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
      if (!coalesceToast(n)) showToast(n);
    }
    Live.announce("live:notification", n);
  });

  Live.stream.on("unread_count", function (event) { setCount(parse(event).count); });
  Live.stream.on("notification_read", function (event) { markItemRead(parse(event).id); });
  Live.stream.on("notifications_read", function (event) { (parse(event).ids || []).forEach(markItemRead); });
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
    api("GET", Live.url("notifications") + "?grouped=true")
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        if (!body) return;
        while (list.firstChild) list.removeChild(list.firstChild);
        (body.results || []).slice(0, MAX_ITEMS).forEach(function (g) {
          (g.members || [g.latest]).forEach(function (m) { seen.add(Number(m.id)); });
          placeEntry(buildGroup(g));
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
