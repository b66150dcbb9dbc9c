// "Use my location": fills the "Where?" box with the browser's position (lat,lng), if allowed.
(function () {
  var button = document.getElementById("use-location");
  var near = document.getElementById("near");
  if (!button || !near || !navigator.geolocation) return;
  button.hidden = false;
  button.addEventListener("click", function () {
    navigator.geolocation.getCurrentPosition(function (position) {
      near.value = position.coords.latitude.toFixed(4) + "," + position.coords.longitude.toFixed(4);
      near.form.submit();
    });
  });
})();
