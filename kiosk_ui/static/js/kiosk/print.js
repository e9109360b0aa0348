// Print screen: the printout is an image rendered server-side for the kiosk's paper; print
// it silently once it has loaded (kiosk-mode Chromium runs with --kiosk-printing).

export function setupPrint() {
  const img = document.getElementById("printout");
  if (!img) return;
  const print = () => window.print();
  if (img.complete) setTimeout(print, 300);
  else img.addEventListener("load", () => setTimeout(print, 300), { once: true });
  document.getElementById("print-again").addEventListener("click", print);
}
