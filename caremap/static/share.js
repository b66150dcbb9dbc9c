// "Copy link" and "Print" on a service page; without JavaScript the link is still there to copy.
(function () {
  var copy = document.getElementById("copy-link");
  var link = document.getElementById("share-link");
  var print = document.getElementById("print-page");
  if (copy && link && navigator.clipboard) {
    copy.hidden = false;
    copy.addEventListener("click", function () {
      navigator.clipboard.writeText(link.value).then(function () { copy.setAttribute("aria-pressed", "true"); });
    });
  }
  if (print) {
    print.hidden = false;
    print.addEventListener("click", function () { window.print(); });
  }
})();
