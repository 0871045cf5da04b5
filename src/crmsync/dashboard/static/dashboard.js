// crmsync dashboard: light progressive enhancement; every page works without it.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Ask before bulk actions.
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
  // "Select all" in an error group.
  for (const box of document.querySelectorAll("input.select-all")) {
    box.addEventListener("change", () => {
      for (const item of box.closest("table").querySelectorAll("input[name=error_id]")) item.checked = box.checked;
    });
  }
  // The overview refreshes itself while nobody is typing or selecting.
  const main = document.querySelector("main[data-refresh]");
  if (main) {
    const seconds = Number(main.dataset.refresh) || 15;
    window.setInterval(() => {
      const busy = document.activeElement && ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName);
      if (!busy && !document.hidden) window.location.reload();
    }, seconds * 1000);
  }
});
