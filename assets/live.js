/*
 * The live page's shared ground (loaded first, on signed-in pages): window.Live holds the
 * notification catalog the server handed over (#notification-catalog: priorities, icons,
 * which types refresh which page parts, labels, URLs; the scripts state none of these
 * facts themselves) and the small helpers the other live scripts share.
 *
 * Load order (plain deferred scripts, no build step): live.js, stream.js (the connection),
 * notifications/bell.js (bell, dropdown, toasts), then a page's own script, if any
 * (jobs/live-jobs.js, notifications/list.js). stream.js connects once all have run.
 *
 * Progressive enhancement: every link and form on the page works without these files.
 * Notification text only ever goes in through textContent.
 */
(function () {
  "use strict";

  var bell = document.getElementById("bell");
  var blob = document.getElementById("notification-catalog");
  if (!bell || !blob || typeof window.EventSource !== "function" || !window.fetch) return;

  var catalog = JSON.parse(blob.textContent);

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
    return typeof url === "string" && /^\/(?![\/\\])/.test(url) && url.indexOf("\\") === -1 ? url : catalog.urls.fallback;
  }

  function url(name, id) {
    // The catalog's URLs; one with an id carries the placeholder "{id}".
    return catalog.urls[name].replace("{id}", String(Number(id)));
  }

  function icon(name) {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("class", "icon");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var use = document.createElementNS(ns, "use");
    use.setAttribute("href", "#i-" + (document.getElementById("i-" + name) ? name : catalog.default_icon));
    svg.appendChild(use);
    return svg;
  }

  function typeIcon(type) {
    var entry = catalog.types[type];
    var wrap = el("span", "type-icon type-" + word(type, "other"));
    wrap.appendChild(icon(entry ? entry.icon : catalog.default_icon));
    return wrap;
  }

  function priority(value) {
    return catalog.priorities.indexOf(value) === -1 ? catalog.default_priority : value;
  }

  function refreshes(part, type) {
    // Does a notification of this type change this page part? (catalog.refreshes)
    return (catalog.refreshes[part] || []).indexOf(type) !== -1;
  }

  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (match) return decodeURIComponent(match[1]);
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function api(method, address) {
    return fetch(address, {
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

  // The page-level events the bell announces and the page scripts follow:
  // live:notification (a new one, de-duplicated), live:expired, live:resync (refresh what
  // notifications don't cover: after a drop, or a reset).
  function announce(name, detail) {
    document.dispatchEvent(new CustomEvent(name, { detail: detail }));
  }

  function on(name, fn) {
    document.addEventListener(name, function (event) { fn(event.detail); });
  }

  window.Live = {
    catalog: catalog, bell: bell,
    forEach: forEach, el: el, word: word, safeUrl: safeUrl, url: url, icon: icon, typeIcon: typeIcon,
    priority: priority, refreshes: refreshes, api: api, parse: parse, ago: ago, refreshTimes: refreshTimes,
    announce: announce, on: on, csrfToken: csrfToken
  };

  // A form sent back with errors: bring its summary into view for keyboard and screen-reader users.
  var problem = document.querySelector("[data-autofocus]");
  if (problem) problem.focus();

  refreshTimes();
  setInterval(refreshTimes, 30000);
})();
