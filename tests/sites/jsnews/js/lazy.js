// Lazy loading the way news CMSs do it: IntersectionObserver and data-* attributes.
export function lazyImages() {
  const io = new IntersectionObserver((entries) => {
    for (const e of entries) {
      if (!e.isIntersecting) continue;
      const img = e.target;
      if (img.dataset.src) img.src = img.dataset.src;
      if (img.dataset.srcset) img.srcset = img.dataset.srcset;
      io.unobserve(img);
    }
  }, { rootMargin: "0px" });
  document.querySelectorAll("img.lazy").forEach((img) => io.observe(img));
}

export function lazyBackgrounds() {
  const io = new IntersectionObserver((entries) => {
    for (const e of entries) {
      if (!e.isIntersecting) continue;
      e.target.style.backgroundImage = `url(${e.target.dataset.bg})`;
      io.unobserve(e.target);
    }
  });
  document.querySelectorAll(".lazy-bg").forEach((el) => io.observe(el));
}
