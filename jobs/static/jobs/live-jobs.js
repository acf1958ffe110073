/*
 * The jobs pages' live parts, after notifications/bell.js: the job page (status, bids,
 * messages), the job board and "My bids". A part refreshes by fetching its server-rendered
 * fragment (data-fragment, data-fragment-url); which notification types touch which part
 * is the catalog's (Live.refreshes), not this file's.
 */
(function () {
  "use strict";

  var Live = window.Live;
  if (!Live) return;
  var forEach = Live.forEach;

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
        Live.refreshTimes(fresh);
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

  // --- the job page ------------------------------------------------------------------------

  var jobPage = document.querySelector("[data-live-job]");
  if (jobPage) {
    var jobId = Number(jobPage.getAttribute("data-live-job"));
    Live.on("live:notification", function (n) {
      if (!n || !n.metadata || Number(n.metadata.job_id) !== jobId) return;
      var type = n.notification_type;
      if (Live.refreshes("job_messages", type)) refreshFragment("messages");
      if (Live.refreshes("job_status", type)) refreshFragment("status");
      if (Live.refreshes("job_bids", type)) refreshFragment("bids", ".bid[data-bid-id]");
    });
    Live.on("live:expired", function (data) {
      if (Number(data.job_id) === jobId) { refreshFragment("status"); refreshFragment("bids"); }
    });
    Live.on("live:resync", function () {
      refreshFragment("status"); refreshFragment("bids"); refreshFragment("messages");
    });
  }

  // --- the job board -------------------------------------------------------------------------

  var board = document.querySelector("[data-live-board]");
  if (board) {
    Live.on("live:notification", function (n) {
      if (Live.refreshes("board", n.notification_type)) refreshFragment("board", ".job-card[data-job-id]");
    });
    Live.on("live:expired", function (data) {
      // The job was taken: drop its card at once, then let the server recount.
      forEach(document.querySelectorAll('[data-live-board] [data-job-id="' + Number(data.job_id) + '"]'), function (card) {
        card.remove();
      });
      refreshFragment("board");
    });
    Live.on("live:resync", function () { refreshFragment("board"); });
  }

  // --- "My bids": a decided bid changes its pill and loses its withdraw button ----------------

  var myBids = document.querySelector("[data-live-bids]");
  if (myBids) {
    Live.on("live:notification", function (n) {
      var state = Live.catalog.bid_states[n.notification_type];
      if (!state || !n.metadata) return;
      forEach(myBids.querySelectorAll('[data-bid-id="' + Number(n.metadata.bid_id) + '"]'), function (card) {
        card.className = card.className.replace(/\bbid-is-\w+/, "bid-is-" + state.status);
        var pill = card.querySelector("[data-bid-status]");
        if (pill) { pill.className = "pill bid-" + state.status; pill.textContent = state.label; }
        forEach(card.querySelectorAll("form[data-withdraw]"), function (form) { form.remove(); });
      });
    });
  }
})();
