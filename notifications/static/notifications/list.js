/*
 * The notifications list page, after bell.js: a new notification shows the "New notifications" banner,
 * unless it joins a group listed here: then that entry's line and count are updated in place (live:group,
 * the group as the API returns it); the listed notifications, a group's members included, are seen
 * (once the tab is visible); following one is a click.
 */
(function () {
  "use strict";

  var Live = window.Live;
  var newBanner = document.getElementById("list-new");
  if (!Live || !newBanner) return;
  function groupEntry(key) {
    var found = null;
    Live.forEach(document.querySelectorAll(".notif-list > [data-group-key]"), function (node) {
      if (node.getAttribute("data-group-key") === key) found = node;
    });
    return found;
  }

  Live.on("live:notification", function (n) {
    if (!(typeof n.group_key === "string" && groupEntry(n.group_key))) newBanner.hidden = false;
  });
  Live.on("live:group", function (g) {
    var entry = groupEntry(g.key);
    if (!entry) return;
    if (!g.count) { entry.remove(); return; }
    entry.setAttribute("data-group-count", String(g.count));
    entry.classList.toggle("is-unread", g.unread_count > 0);
    Live.forEach(entry.querySelectorAll("[data-group-summary]"), function (node) { node.textContent = g.summary; });
    Live.forEach(entry.querySelectorAll("[data-group-toggle]"), function (node) { node.textContent = "Show all " + g.count; });
  });

  Live.forEach(document.querySelectorAll(".notif-list [data-notification-id]"), function (item) {
    var id = item.getAttribute("data-notification-id");
    Live.receipts.shown(id);
    Live.forEach(item.querySelectorAll("form[data-open-notification]"), function (form) {
      form.addEventListener("submit", function () { Live.receipts.clicked(id); });
    });
  });
})();
