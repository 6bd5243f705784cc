// brain-mcp's owner pages: the little that script does better than HTML alone. Every page
// works without it (times stay in UTC, forms post without a question, the server checks the
// import's size itself).
"use strict";
(function () {
  // Times are written in UTC; show them in the reader's own time zone, UTC in the tooltip.
  for (const t of document.querySelectorAll("time[datetime]")) {
    const d = new Date(t.getAttribute("datetime"));
    if (isNaN(d.getTime())) continue;
    t.title = t.textContent;
    t.textContent = d.toLocaleString(undefined, {
      year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
    });
  }
  // A revoke or "sign out everywhere" asks once before it posts.
  for (const f of document.querySelectorAll("form[data-confirm]")) {
    f.addEventListener("submit", (e) => {
      if (!window.confirm(f.dataset.confirm)) e.preventDefault();
    });
  }
  // An import larger than the server takes would end in a bare 413: say so before uploading.
  for (const f of document.querySelectorAll("form[data-max-bytes]")) {
    const input = f.querySelector("input[type=file]");
    const out = f.querySelector(".size-error");
    const max = Number(f.dataset.maxBytes);
    f.addEventListener("submit", (e) => {
      const file = input && input.files && input.files[0];
      if (file && file.size > max) {
        e.preventDefault();
        out.textContent = "This file is " + Math.ceil(file.size / 1048576) +
          " MiB; the page takes up to " + Math.floor(max / 1048576) +
          " MiB. Run brain-mcp import FILE on the server instead.";
        out.hidden = false;
      }
    });
  }
})();
