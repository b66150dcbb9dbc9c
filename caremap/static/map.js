// The results map: an enhancement only. The list above works without it, and if the tiles
// cannot load the markers still show where each service is.
(function () {
  var holder = document.getElementById("map");
  var data = document.getElementById("map-data");
  if (!holder || !data || typeof L === "undefined") return;
  var map_data = JSON.parse(data.textContent);
  if (!map_data.points.length) return;
  holder.classList.add("map-on");
  var map = L.map(holder, { scrollWheelZoom: false });
  L.tileLayer(map_data.tiles, { attribution: map_data.attribution, maxZoom: 18 }).addTo(map);
  var bounds = [];
  map_data.points.forEach(function (p) {
    var marker = L.marker([p.lat, p.lng], { title: p.name, alt: p.name }).addTo(map);
    var link = document.createElement("a");
    link.href = p.url;
    link.textContent = p.name;
    marker.bindPopup(link);
    bounds.push([p.lat, p.lng]);
  });
  map.fitBounds(bounds, { padding: [24, 24], maxZoom: 14 });
})();
