// The article's entry module: every other script is imported from here.
import { lazyImages, lazyBackgrounds } from "./lazy.js";
import { loadComments } from "./comments.js";
import { formatDate } from "/js/util/format.js";

const config = JSON.parse(document.getElementById("page-config").textContent);

function addText(list, text) {
  const li = document.createElement("li");
  li.textContent = text;
  list.appendChild(li);
}

async function continueBody() {
  const slot = document.getElementById("body-rest");
  const res = await fetch(slot.dataset.srcJson);
  const doc = await res.json();
  slot.innerHTML = "";
  for (const para of doc.paragraphs) {
    const p = document.createElement("p");
    p.textContent = para;
    slot.appendChild(p);
  }
  const chart = document.createElement("img");
  chart.src = doc.chart;
  chart.alt = "Chart";
  slot.appendChild(chart);
}

async function liveUpdates() {
  // The URL exists only in the inline JSON above: no static extractor sees it.
  const res = await fetch(config.liveUpdates);
  const doc = await res.json();
  for (const item of doc.updates) addText(document.getElementById("live-list"), `${formatDate(item.at)}: ${item.text}`);
}

function video() {
  const clip = document.getElementById("clip");
  clip.poster = "/img/poster.png";
  clip.src = "/media/master.m3u8";
}

function embed() {
  const frame = document.createElement("iframe");
  frame.src = "/embed/post.html";
  frame.width = "500";
  frame.height = "200";
  frame.title = "Social post";
  document.getElementById("embed-slot").appendChild(frame);
}

let relatedPage = 1;
async function loadRelated() {
  const res = await fetch(`/api/related.json?page=${relatedPage}`);
  const doc = await res.json();
  const list = document.getElementById("related-list");
  for (const story of doc.stories) {
    const li = document.createElement("li");
    const img = document.createElement("img");
    img.src = story.thumb;
    img.width = 80;
    li.appendChild(img);
    li.appendChild(document.createTextNode(" " + story.title));
    list.appendChild(li);
  }
  relatedPage += 1;
  if (!doc.more) document.getElementById("load-more").remove();
}

lazyImages();
lazyBackgrounds();
continueBody();
liveUpdates();
loadComments(document.getElementById("comment-list"));
video();
embed();
loadRelated();
document.getElementById("load-more").addEventListener("click", loadRelated);
