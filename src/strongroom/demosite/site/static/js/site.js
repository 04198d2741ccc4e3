/* strongroom demo site: a small script, served chunked (and gzipped when the
   client accepts it). It only decorates the page; the text is all in the HTML,
   so a capture without JavaScript is still complete. */
(function () {
  "use strict";
  function readingTime() {
    var article = document.querySelector("article");
    var slot = document.querySelector(".js-reading-time");
    if (!article || !slot) {
      return;
    }
    var words = article.textContent.trim().split(/\s+/).length;
    var minutes = Math.max(1, Math.round(words / 220));
    slot.textContent = minutes + " min read";
  }
  function markExternalLinks() {
    var links = document.querySelectorAll("a[href]");
    for (var i = 0; i < links.length; i++) {
      if (links[i].host && links[i].host !== window.location.host) {
        links[i].setAttribute("rel", "noopener");
      }
    }
  }
  document.addEventListener("DOMContentLoaded", function () {
    readingTime();
    markExternalLinks();
  });
})();
