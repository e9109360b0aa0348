// Kiosk boot: each feature is its own small module; this one only starts them. Plain ES
// modules from /static (script-src 'self'), no build step, no dependencies. A feature whose
// elements are not on the page does nothing.
import { setupAttract } from "./attract.js";
import { setupCourier } from "./courier.js";
import { setupFontCheck } from "./fontcheck.js";
import { setupHeartbeat } from "./heartbeat.js";
import { setupIdle } from "./idle.js";
import { setupBack, setupModes, setupSelfReload } from "./nav.js";
import { setupOffline } from "./offline.js";
import { setupPrint } from "./print.js";
import { setupProgress } from "./progress.js";
import { setupQrLogin } from "./qrlogin.js";
import { setupSearch } from "./search.js";

setupIdle();
setupBack();
setupModes();
setupHeartbeat();
setupSelfReload();
setupOffline();
setupSearch();
setupPrint();
setupProgress();
setupCourier();
setupQrLogin();
setupFontCheck();
setupAttract();

// Every feature has armed its timers and listeners: whoever waits for the page (the browser
// tests, before they move a fake clock on) waits for this rather than for the HTML alone.
document.documentElement.dataset.kioskReady = "1";
