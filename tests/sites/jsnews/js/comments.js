// Comments arrive by XMLHttpRequest, as on many older CMS themes.
export function loadComments(list) {
  const xhr = new XMLHttpRequest();
  xhr.open("GET", "/api/comments.json");
  xhr.responseType = "json";
  xhr.onload = () => {
    for (const c of xhr.response.comments) {
      const li = document.createElement("li");
      li.textContent = `${c.author}: ${c.text}`;
      list.appendChild(li);
    }
  };
  xhr.send();
}
