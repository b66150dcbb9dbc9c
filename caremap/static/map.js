// The results map: an enhancement only. The list beside it carries every link and works
// without it (and without JavaScript); if the tiles cannot load, the points still show.
// Services at the same place share one point whose popup lists them all.
(function () {
  var holder = document.getElementById("map");
  var data = document.getElementById("map-data");
  if (!holder || !data || typeof L === "undefined") return;
  var mapData = JSON.parse(data.textContent);
  if (!mapData.points.length) return;
  holder.classList.add("map-on");
  var map = L.map(holder, { scrollWheelZoom: false });
  L.tileLayer(mapData.tiles, { attribution: mapData.attribution, maxZoom: 18 }).addTo(map);
  var places = {};
  mapData.points.forEach(function (p) {
    var key = p.lat.toFixed(5) + "," + p.lng.toFixed(5);
    (places[key] = places[key] || []).push(p);
  });
  var bounds = [];
  Object.keys(places).forEach(function (key) {
    var here = places[key];
    var list = document.createElement("ul");
    here.forEach(function (p) {
      var item = document.createElement("li");
      var link = document.createElement("a");
      link.href = p.url;
      link.textContent = p.name;
      item.appendChild(link);
      list.appendChild(item);
    });
    L.circleMarker([here[0].lat, here[0].lng], {
      radius: 10, color: "#0b5ea8", weight: 2, fillColor: "#0b5ea8", fillOpacity: 0.6
    }).bindPopup(list).addTo(map);
    bounds.push([here[0].lat, here[0].lng]);
  });
  map.fitBounds(bounds, { padding: [24, 24], maxZoom: 14 });
})();
