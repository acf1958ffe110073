/* The service worker (served at /sw.js, scope "/"): shows a Web Push as a notification; a click opens its page. */
"use strict";

self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (event) { event.waitUntil(self.clients.claim()); });

// A push only ever opens a page of this site: anything else becomes the home page.
function sameOriginUrl(url) {
  try {
    var parsed = new URL(url || "/", self.location.origin);
    if (parsed.origin === self.location.origin) return parsed.href;
  } catch (error) { /* not a URL */ }
  return self.location.origin + "/";
}

self.addEventListener("push", function (event) {
  var data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch (error) {
    data = { body: event.data ? event.data.text() : "" };
  }
  var options = {
    body: data.body || "",
    data: { url: sameOriginUrl(data.url), notification_id: data.notification_id, type: data.type },
  };
  // One tag per notification: a repeated push replaces it on the screen instead of showing twice.
  if (data.tag) options.tag = data.tag;
  event.waitUntil(self.registration.showNotification(data.title || "Spotless", options));
});

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  var url = sameOriginUrl(event.notification.data && event.notification.data.url);
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (windows) {
      for (var i = 0; i < windows.length; i++) {
        if (windows[i].url === url && "focus" in windows[i]) return windows[i].focus();
      }
      return self.clients.openWindow ? self.clients.openWindow(url) : undefined;
    })
  );
});
