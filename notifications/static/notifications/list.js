/* The notifications list page, after bell.js: a new notification shows the "New notifications" banner. */
(function () {
  "use strict";

  var Live = window.Live;
  var newBanner = document.getElementById("list-new");
  if (!Live || !newBanner) return;
  Live.on("live:notification", function () { newBanner.hidden = false; });
})();
