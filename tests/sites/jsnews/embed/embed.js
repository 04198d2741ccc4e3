document.getElementById("post-text").textContent =
  "Embedded post: a photograph of the square with candles, shared on the anniversary.";
