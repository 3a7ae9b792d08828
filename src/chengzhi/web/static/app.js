/* Chengzhi pages: the city map (Leaflet over the city's own areas), the point picker, the category filter. */
(function () {
  "use strict";
  function initMap(el) {
    if (!window.L) { return; }
    var map = L.map(el, { attributionControl: !!el.dataset.tiles });
    if (el.dataset.tiles) { L.tileLayer(el.dataset.tiles, { maxZoom: 19 }).addTo(map); }
    var lang = document.documentElement.lang === "en" ? "name_en" : "name_zh";
    var marker = null;
    var lat = document.getElementById("lat"), lon = document.getElementById("lon");
    var status = document.getElementById("point-status");
    function place(latlng) {
      if (marker) { marker.setLatLng(latlng); } else { marker = L.marker(latlng).addTo(map); }
    }
    fetch(el.dataset.areas).then(function (r) { return r.json(); }).then(function (data) {
      var layer = L.geoJSON(data, {
        style: { color: "#9b1c1c", weight: 2, fillOpacity: 0.08 },
        onEachFeature: function (f, l) { l.bindTooltip(f.properties[lang] || ""); }
      }).addTo(map);
      if (layer.getBounds().isValid()) { map.fitBounds(layer.getBounds()); } else { map.setView([39.9, 116.4], 10); }
      if (lat && lat.value && lon && lon.value) { place([parseFloat(lat.value), parseFloat(lon.value)]); }
    });
    if (el.dataset.pick && lat && lon) {
      map.on("click", function (e) {
        place(e.latlng);
        lat.value = e.latlng.lat.toFixed(6);
        lon.value = e.latlng.lng.toFixed(6);
        if (status) { status.textContent = lat.value + ", " + lon.value; }
      });
    }
  }
  document.querySelectorAll(".map[data-areas]").forEach(initMap);

  document.querySelectorAll("input[data-filter]").forEach(function (input) {
    var select = document.getElementById(input.dataset.filter);
    input.addEventListener("input", function () {
      var q = input.value.trim().toLowerCase();
      select.querySelectorAll("option").forEach(function (o) {
        if (!o.value) { return; }
        var hay = (o.textContent + " " + (o.dataset.keywords || "")).toLowerCase();
        o.hidden = q !== "" && hay.indexOf(q) < 0;
      });
    });
  });

  document.addEventListener("click", function (e) {
    var code = e.target && e.target.dataset ? e.target.dataset.choose : null;
    if (code) {
      var select = document.getElementById("category");
      if (select) { select.value = code; select.focus(); }
    }
  });
})();
