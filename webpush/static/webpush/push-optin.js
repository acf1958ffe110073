/* The preferences page's Web Push opt-in: on click only, ask permission, register /sw.js, subscribe, store it. */
(function () {
  "use strict";
  var root = document.getElementById("push-optin");
  if (!root || root.dataset.enabled !== "true") return;
  var stateLine = document.getElementById("push-state");
  var button = document.getElementById("push-toggle");
  var api = root.dataset.api;
  var workerUrl = root.dataset.worker;
  var publicKey = root.dataset.publicKey;
  var isOn = false;
  // A browser whose push service cannot be reached (offline, blocked) may never settle subscribe().
  var SUBSCRIBE_TIMEOUT_MS = Number(root.dataset.subscribeTimeoutMs) || 20000;

  var TEXT = {
    on: "Push is on for this browser.",
    off: "Get notifications on this device even when no page of ours is open.",
    denied: "Notifications are blocked for this site: allow them in your browser's site settings, then try again.",
    dismissed: "Push stays off: the browser's permission request was dismissed.",
    unsupported: "This browser cannot receive push notifications.",
    insecure: "Push needs a secure (https) page.",
  };

  function show(state, text) {
    if (state === "on" || state === "off") isOn = state === "on";
    root.dataset.state = state;
    stateLine.textContent = text || TEXT[state];
    button.hidden = state === "unsupported" || state === "insecure" || state === "denied" || state === "busy";
    button.disabled = false;
    button.textContent = state === "on" ? "Turn off" : "Turn on push for this browser";
    button.className = state === "on" ? "btn btn-ghost" : "btn btn-primary";
  }

  function supported() {
    return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
  }

  function keyBytes(base64url) {
    var base64 = (base64url + "===".slice((base64url.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    var raw = atob(base64);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes;
  }

  function sameKey(buffer, base64url) {
    if (!buffer) return false;
    var a = new Uint8Array(buffer);
    var b = keyBytes(base64url);
    if (a.length !== b.length) return false;
    for (var i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  function call(method, body) {
    return fetch(api, {
      method: method,
      credentials: "same-origin",
      headers: { "Accept": "application/json", "Content-Type": "application/json", "X-CSRFToken": Live.csrfToken(), "X-Requested-With": "fetch" },
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(function (response) {
      if (response.ok || (method === "DELETE" && response.status === 404)) {
        return response.status === 204 || response.status === 404 ? null : response.json();
      }
      return response.json().catch(function () { return {}; }).then(function (error) {
        throw new Error(error.detail || "the server answered " + response.status);
      });
    });
  }

  function withTimeout(promise, message) {
    return new Promise(function (resolve, reject) {
      var timer = setTimeout(function () { reject(new Error(message)); }, SUBSCRIBE_TIMEOUT_MS);
      promise.then(function (value) { clearTimeout(timer); resolve(value); }, function (error) { clearTimeout(timer); reject(error); });
    });
  }

  function currentSubscription() {
    return navigator.serviceWorker.getRegistration("/").then(function (registration) {
      return registration ? registration.pushManager.getSubscription() : null;
    });
  }

  // On load: only look (never ask): is this browser's subscription one of the user's?
  function refresh() {
    if (Notification.permission === "denied") return show("denied");
    return Promise.all([currentSubscription(), call("GET")]).then(function (results) {
      var subscription = results[0];
      var mine = (results[1].subscriptions || []).map(function (s) { return s.endpoint; });
      show(subscription && mine.indexOf(subscription.endpoint) !== -1 ? "on" : "off");
    });
  }

  function turnOn() {
    return Notification.requestPermission().then(function (permission) {
      if (permission === "denied") return show("denied");
      if (permission !== "granted") return show("dismissed");
      return navigator.serviceWorker.register(workerUrl, { scope: "/" })
        .then(function () { return navigator.serviceWorker.ready; })
        .then(function (registration) {
          return registration.pushManager.getSubscription().then(function (existing) {
            // Made with another server key (keys were rotated): it cannot be used any more.
            if (existing && !sameKey(existing.options.applicationServerKey, publicKey)) {
              return existing.unsubscribe().then(function () { return null; });
            }
            return existing;
          }).then(function (existing) {
            return existing || withTimeout(
              registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(publicKey) }),
              "the browser's push service did not answer"
            );
          });
        })
        .then(function (subscription) { return call("POST", subscription.toJSON()); })
        .then(function () { show("on"); });
    });
  }

  function turnOff() {
    return currentSubscription().then(function (subscription) {
      if (!subscription) return show("off");
      return call("DELETE", { endpoint: subscription.endpoint })
        .then(function () { return subscription.unsubscribe(); })
        .then(function () { show("off", "Push is off for this browser."); });
    });
  }

  function failed(action) {
    return function (error) {
      show(isOn ? "on" : "off", "Could not turn push " + action + ": " + ((error && error.message) || error) + ".");
      root.dataset.state = "error";
    };
  }

  if (!supported()) return show("unsupported");
  if (!window.isSecureContext) return show("insecure");
  button.addEventListener("click", function () {
    var turningOn = !isOn;
    button.disabled = true;
    stateLine.textContent = turningOn ? "Turning push on…" : "Turning push off…";
    (turningOn ? turnOn() : turnOff()).catch(failed(turningOn ? "on" : "off"));
  });
  refresh().catch(function () { show("off"); });
})();
