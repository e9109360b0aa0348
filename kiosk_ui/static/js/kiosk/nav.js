// Page navigation helpers: the 返回 button, the language and text-size switches, and pages
// that wait for something.

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

const MODE_PARAMS = ["lang", "elder"];

/** The address of this page with the switch ``link`` applied: the current address (search.js
 *  keeps the typed query in it; the box itself wins if it is ahead of the address) with the
 *  link's lang/elder values, and no partial-results flag. */
export function switchedUrl(link, location = window.location, query = document.getElementById("q")) {
  const target = new URL(link.href, location.href);
  const url = new URL(location.href);
  for (const name of MODE_PARAMS) {
    if (target.searchParams.has(name)) url.searchParams.set(name, target.searchParams.get(name));
  }
  url.searchParams.delete("partial");
  if (query && query.value.trim()) url.searchParams.set("q", query.value.trim());
  return url.pathname + url.search;
}

// 长辈版 / English change how this page looks, not where the resident is: the page comes back
// at the same address with what they typed, in place of itself, so 返回 still leads to the
// page before. The server keeps the choice in a cookie; the ?lang= / ?elder= that carried it
// is taken out of the address so that going back in history never re-applies an old choice.
export function setupModes() {
  for (const link of document.querySelectorAll("nav.modes a.mode")) {
    link.addEventListener("click", (event) => {
      event.preventDefault();
      window.location.replace(switchedUrl(link));
    });
  }
  const url = new URL(window.location.href);
  if (MODE_PARAMS.some((name) => url.searchParams.has(name))) {
    for (const name of MODE_PARAMS) url.searchParams.delete(name);
    window.history.replaceState(window.history.state, "", url.pathname + url.search + url.hash);
  }
}

// Pages that wait for something (authorization, end of maintenance) look again now and then.
export function setupSelfReload() {
  const holder = document.querySelector("[data-reload-seconds]");
  if (holder) setTimeout(() => window.location.reload(), Number(holder.dataset.reloadSeconds) * 1000);
}

/**
 * Screens that answer a POST (a lookup result, a booking step) cannot be reloaded with
 * ?lang= or ?elder=: 长辈版 / English post the screen's own form (id ``formId``) again with the
 * chosen setting in its action.
 */
export function setupReshow(formId) {
  const form = document.getElementById(formId);
  if (!form) return;
  // Capturing, so it runs before setupModes' own handler on the link (which it stops).
  document.addEventListener("click", (event) => {
    const link = event.target.closest("nav.modes a.mode");
    if (!link) return;
    event.preventDefault();
    event.stopPropagation();
    const choice = new URL(link.href, window.location.href);
    const action = new URL(form.getAttribute("action"), window.location.href);
    for (const name of ["lang", "elder"]) {
      if (choice.searchParams.has(name)) action.searchParams.set(name, choice.searchParams.get(name));
    }
    form.setAttribute("action", action.pathname + action.search);
    form.submit();
  }, true);
}
