// The job form's map: once an address is typed it shows where we found it, and the client
// may drag the pin (the hidden latitude/longitude fields then carry the new point). Without
// this script, Leaflet or map tiles the form still works: the server looks the address up.
(function () {
  "use strict";
  const box = document.querySelector("[data-place-map]");
  if (!box || !window.L) return;
  const form = box.closest("form");
  const address = form.querySelector("#id_address");
  const city = form.querySelector("#id_city");
  const latitude = form.querySelector("#id_latitude");
  const longitude = form.querySelector("#id_longitude");
  const status = box.querySelector("[data-place-status]");
  const canvas = box.querySelector("[data-place-canvas]");
  let map = null;
  let marker = null;
  let lookups = 0;

  function pinTo(lat, lon) {
    latitude.value = lat.toFixed(6);
    longitude.value = lon.toFixed(6);
  }

  function clearPin() {
    latitude.value = "";
    longitude.value = "";
  }

  function show(lat, lon) {
    canvas.hidden = false;
    if (!map) {
      map = L.map(canvas, { scrollWheelZoom: false });
      L.tileLayer(box.dataset.tilesUrl, { attribution: box.dataset.tilesAttribution, maxZoom: 19 }).addTo(map);
      marker = L.marker([lat, lon], { draggable: true, autoPan: true, title: "The job's place" }).addTo(map);
      marker.on("dragend", function () {
        const point = marker.getLatLng();
        pinTo(point.lat, point.lng);
        status.textContent = "Pin moved: the job will be placed where the pin is.";
      });
    }
    marker.setLatLng([lat, lon]);
    map.setView([lat, lon], 16);
    map.invalidateSize();
  }

  async function lookUp({ keepPin = false } = {}) {
    if (!keepPin) clearPin();
    const query = { address: address.value.trim(), city: city.value.trim() };
    if (!query.address || !query.city) return;
    const mine = ++lookups;
    status.textContent = "Looking the address up…";
    let response, body;
    try {
      response = await fetch(box.dataset.lookupUrl + "?" + new URLSearchParams(query), {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      body = await response.json();
    } catch (error) {
      if (mine === lookups) status.textContent = "The map is not available just now; the address is looked up when you post.";
      return;
    }
    if (mine !== lookups) return; // a newer lookup is under way
    if (!response.ok) {
      canvas.hidden = true;
      status.textContent = ((body.errors && body.errors.address) || ["We could not find that address."]).join(" ");
      return;
    }
    const pinned = keepPin && latitude.value && longitude.value;
    show(pinned ? Number(latitude.value) : body.latitude, pinned ? Number(longitude.value) : body.longitude);
    status.textContent = pinned
      ? "Pin moved: the job will be placed where the pin is."
      : "Found: " + body.label + ". Drag the pin if the job is somewhere else nearby.";
  }

  address.addEventListener("change", function () { lookUp(); });
  city.addEventListener("change", function () { lookUp(); });
  // A form shown again (with an error elsewhere) keeps its address and any pin.
  if (address.value.trim() && city.value.trim()) lookUp({ keepPin: true });
})();
