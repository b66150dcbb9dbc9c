// Maps are an enhancement only: the list or the table beside each carries every figure and link
// and works without them (and without JavaScript); if the tiles cannot load, the points still
// show. Each `[data-map]` element names the JSON script that holds its points and words.
// - Results: services at the same place share one point whose popup lists them all; on a phone
//   the list comes first and a "Map" button shows the map above it.
// - Reports: a circle at each ZIP code centroid, sized by its count, labelled with the count.
(function () {
  if (typeof L === "undefined") return;
  document.querySelectorAll("[data-map]").forEach(function (holder) {
    var data = document.getElementById(holder.getAttribute("data-map"));
    if (!data) return;
    var mapData = JSON.parse(data.textContent);
    if (!mapData.points.length) return;
    holder.classList.add("map-on");
    var map = L.map(holder, { scrollWheelZoom: false, zoomControl: false });
    L.control.zoom({ zoomInTitle: mapData.zoom_in, zoomOutTitle: mapData.zoom_out }).addTo(map);
    L.tileLayer(mapData.tiles, { attribution: mapData.attribution, maxZoom: 18 }).addTo(map);
    var bounds = mapData.points[0].count === undefined ? services(map, mapData) : counts(map, mapData);
    map.fitBounds(bounds, { padding: [24, 24], maxZoom: 14 });
    toggle(holder, map, mapData);
  });

  function services(map, mapData) {
    var places = {};
    mapData.points.forEach(function (p) {
      var key = p.lat.toFixed(5) + "," + p.lng.toFixed(5);
      (places[key] = places[key] || []).push(p);
    });
    return Object.keys(places).map(function (key) {
      var here = places[key];
      var list = document.createElement("ul");
      here.forEach(function (p) {
        var item = document.createElement("li");
        var link = document.createElement("a");
        link.href = p.url;
        link.textContent = p.name;
        if (mapData.data_lang) link.lang = mapData.data_lang;
        item.appendChild(link);
        list.appendChild(item);
      });
      L.circleMarker([here[0].lat, here[0].lng], {
        radius: 10, color: "#0b5ea8", weight: 2, fillColor: "#0b5ea8", fillOpacity: 0.6
      }).bindPopup(list).addTo(map);
      return [here[0].lat, here[0].lng];
    });
  }

  function counts(map, mapData) {
    var largest = Math.max.apply(null, mapData.points.map(function (p) { return p.count; })) || 1;
    return mapData.points.map(function (p) {
      L.circleMarker([p.lat, p.lng], {
        radius: 8 + 22 * Math.sqrt(p.count / largest),
        color: "#8a2533", weight: 2, fillColor: "#b03a48", fillOpacity: 0.45
      }).bindTooltip(p.label + ": " + p.count, { permanent: true, direction: "center", className: "count-label" })
        .addTo(map);
      return [p.lat, p.lng];
    });
  }

  function toggle(holder, map, mapData) {
    if (!mapData.show_map) return;
    var button = document.createElement("button");
    button.type = "button";
    button.className = "map-toggle";
    button.textContent = mapData.show_map;
    button.setAttribute("aria-controls", holder.id);
    button.setAttribute("aria-expanded", "false");
    button.addEventListener("click", function () {
      var shown = holder.classList.toggle("map-shown");
      button.setAttribute("aria-expanded", shown ? "true" : "false");
      button.textContent = shown ? mapData.hide_map : mapData.show_map;
      if (shown) map.invalidateSize();
    });
    holder.parentNode.insertBefore(button, holder.parentNode.firstChild);
  }
})();
