// Backend reachability: if the backend stops answering, say so plainly and send people to
// the counter. The service worker (/kiosk/sw.js) serves the offline page when a navigation
// fails.

export function setupOffline(body = document.body) {
  const overlay = document.getElementById("offline-overlay");
  const retry = document.getElementById("offline-retry");
  const url = body.dataset.pingUrl;
  let failures = 0;
  const check = async () => {
    try {
      const response = await fetch(url, { cache: "no-store" });
      if (!response.ok) throw new Error(String(response.status));
      failures = 0;
      overlay.hidden = true;
    } catch (err) {
      failures += 1;
      if (failures >= 2) overlay.hidden = false; // one lost ping is not an outage
    }
  };
  retry.addEventListener("click", () => { failures = 1; check(); });
  setInterval(check, 15000);
  window.addEventListener("online", check);
  window.addEventListener("offline", () => { overlay.hidden = false; });
  if ("serviceWorker" in navigator && window.isSecureContext) {
    navigator.serviceWorker.register(body.dataset.swUrl, { scope: body.dataset.homeUrl }).catch(() => {});
  }
}
