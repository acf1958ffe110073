/*
 * The notifications list page, after bell.js: a new notification shows the "New notifications" banner;
 * the listed notifications are seen (once the tab is visible); following one is a click.
 */
(function () {
  "use strict";

  var Live = window.Live;
  var newBanner = document.getElementById("list-new");
  if (!Live || !newBanner) return;
  Live.on("live:notification", function () { newBanner.hidden = false; });

  Live.forEach(document.querySelectorAll(".notif-list [data-notification-id]"), function (item) {
    var id = item.getAttribute("data-notification-id");
    Live.receipts.shown(id);
    Live.forEach(item.querySelectorAll("form[data-open-notification]"), function (form) {
      form.addEventListener("submit", function () { Live.receipts.clicked(id); });
    });
  });
})();
