// Page navigation helpers: the 返回 button, and pages that wait for something.

// 返回 goes back in history when the previous page was a kiosk page (so a resident
// returns to their search results); otherwise the link's own target is used.
export function setupBack() {
  const back = document.getElementById("nav-back");
  if (!back) return;
  back.addEventListener("click", (event) => {
    const kioskPage = document.referrer.startsWith(window.location.origin + "/kiosk");
    if (kioskPage && window.history.length > 1 && document.referrer !== window.location.href) {
      event.preventDefault();
      window.history.back();
    }
  });
}

// Pages that wait for something (authorization, end of maintenance) look again now and then.
export function setupSelfReload() {
  const holder = document.querySelector("[data-reload-seconds]");
  if (holder) setTimeout(() => window.location.reload(), Number(holder.dataset.reloadSeconds) * 1000);
}
