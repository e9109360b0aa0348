// 邮寄材料 / 结果寄回家 (courier/kiosk.py, templates kiosk/courier_*.html).
//
// - Choices show what they need: "someone else" shows the name box, "another number" the
//   number box, "a new address" the division picker and the street box (data-show-when).
// - The division picker is tap-only: province → city → county as large buttons, the next
//   level asked of /kiosk/courier/divisions; the codes go in hidden fields.
// - The on-screen keyboard types into the box touched last: pinyin letters offer candidate
//   characters (the table is loaded once from /kiosk/courier/pinyin.json: nothing typed is
//   sent anywhere while typing), address words and digits go in as they are. A number box
//   takes digits only.
// - 确认 is sent once: the button is disabled at the first tap (the server books once per
//   confirm screen anyway: the form's Idempotency-Key).
// - Screens answer POSTs, so 长辈版 / English post the screen's state again (like progress.js).
// Nothing is kept in the browser's storage.
import { applyKey } from "./keyboard.js";
import { setupReshow } from "./nav.js";

const PAGE = 10; // candidates shown at a time

function radioValue(form, name) {
  const checked = form.querySelector(`input[name="${name}"]:checked`)
    || form.querySelector(`input[type="hidden"][name="${name}"]`);
  return checked ? checked.value : "";
}

/** Parts shown only for some choices: data-show-when="name=value|other=value". */
export function setupChoices(root = document) {
  const form = root.getElementById ? root.getElementById("courier-form") : null;
  if (!form) return;
  const parts = [...form.querySelectorAll("[data-show-when]")];
  const update = () => {
    for (const part of parts) {
      part.hidden = !part.dataset.showWhen.split("|").some((rule) => {
        const [name, value] = rule.split("=");
        return radioValue(form, name) === value;
      });
    }
    document.dispatchEvent(new CustomEvent("courier:choices"));
  };
  form.addEventListener("change", update);
  update();
}

function candidatesFor(table, typed) {
  if (!typed) return [];
  const exact = table[typed] || "";
  // While a syllable is still being typed, the characters of every syllable it starts.
  let more = "";
  for (const [syllable, chars] of Object.entries(table)) {
    if (syllable !== typed && syllable.startsWith(typed)) more += chars.slice(0, 8);
  }
  return [...new Set([...exact, ...more])];
}

export function setupKeyboard() {
  const keyboard = document.getElementById("courier-keyboard");
  const form = document.getElementById("courier-form");
  if (!keyboard || !form) return;
  const fields = [...form.querySelectorAll("input[data-kind]")];
  const pinyinOut = document.getElementById("courier-keyboard-pinyin");
  const list = document.getElementById("courier-keyboard-candidates");
  const pages = [...keyboard.querySelectorAll("button[data-page]")];
  let table = null;
  let typed = "";
  let page = 0;
  const visible = (field) => !field.closest("[hidden]");
  let target = fields.find((f) => f.getAttribute("aria-invalid") === "true" && visible(f))
    || fields.find((f) => visible(f) && !f.value) || fields.find(visible) || fields[0];

  const renderCandidates = () => {
    const all = table ? candidatesFor(table, typed) : [];
    const shown = all.slice(page * PAGE, page * PAGE + PAGE);
    list.replaceChildren(...shown.map((ch) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "key candidate";
      button.dataset.candidate = ch;
      button.textContent = ch;
      return button;
    }));
    if (!shown.length) {
      const empty = document.createElement("span");
      empty.className = "courier-candidates-empty";
      empty.textContent = list.dataset.empty;
      list.append(empty);
    }
    pinyinOut.textContent = typed;
    pages[0].disabled = page === 0;
    pages[1].disabled = (page + 1) * PAGE >= all.length;
  };
  const mark = () => {
    const digitsOnly = target && target.dataset.kind === "digits";
    for (const field of fields) field.classList.toggle("is-target", field === target);
    for (const key of keyboard.querySelectorAll("button.letter, button.word")) key.disabled = digitsOnly || !table;
    for (const key of keyboard.querySelectorAll("button.digit, button[data-key='backspace'], button[data-key='clear']")) {
      key.disabled = false;
    }
  };
  const put = (text) => {
    if (!target) return;
    const value = target.value + text;
    target.value = target.maxLength > 0 ? value.slice(0, target.maxLength) : value;
  };
  const reset = () => { typed = ""; page = 0; renderCandidates(); };

  for (const field of fields) {
    field.addEventListener("focus", () => { target = field; reset(); mark(); });
  }
  document.addEventListener("courier:choices", () => {
    if (!target || !visible(target)) target = fields.find(visible) || target;
    mark();
  });
  keyboard.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button || button.disabled || !target) return;
    if (button.dataset.letter) {
      typed = (typed + button.dataset.letter).slice(0, 6);
      page = 0;
      renderCandidates();
    } else if (button.dataset.candidate) {
      put(button.dataset.candidate);
      reset();
    } else if (button.dataset.page) {
      page = Math.max(0, page + Number(button.dataset.page));
      renderCandidates();
    } else if (button.dataset.key === "backspace" && typed) {
      typed = typed.slice(0, -1);
      page = 0;
      renderCandidates();
    } else if (button.dataset.key) {
      const key = button.dataset.key;
      if (target.dataset.kind === "digits" && !/^(\d|backspace|clear)$/.test(key)) return;
      if (key === "backspace" || key === "clear") target.value = applyKey(target.value, { key });
      else put(key);
      reset();
    }
  });
  // A hardware keyboard (a helper's) may type too; a number box keeps digits only.
  for (const field of fields.filter((f) => f.dataset.kind === "digits")) {
    field.addEventListener("input", () => { field.value = field.value.replace(/\D/g, "").slice(0, field.maxLength); });
  }
  mark();
  renderCandidates();
  fetch(keyboard.dataset.pinyinUrl, { credentials: "same-origin" })
    .then((response) => (response.ok ? response.json() : null))
    .then((body) => { if (body) { table = body.table; mark(); renderCandidates(); } })
    .catch(() => { /* without the table only words and digits can be typed */ });
}

export function setupPicker() {
  const picker = document.getElementById("courier-picker");
  if (!picker) return;
  const grid = document.getElementById("courier-divisions");
  const crumbs = picker.querySelector(".courier-crumbs");
  const levelText = document.getElementById("courier-level");
  const chosen = document.getElementById("courier-chosen-name");
  const chosenBox = document.getElementById("courier-chosen");
  const inputs = {
    province: document.getElementById("courier-province"),
    city: document.getElementById("courier-city"),
    county: document.getElementById("courier-county"),
  };
  const names = {};
  for (const crumb of crumbs.querySelectorAll("button.crumb")) {
    if (crumb.dataset.parent) names[crumb.dataset.parent] = crumb.textContent;
  }
  const next = { province: "city", city: "county" };

  const crumb = (level, parent, text) => {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "crumb";
    button.dataset.level = level;
    button.dataset.parent = parent;
    button.textContent = text;
    return button;
  };
  const renderCrumbs = () => {
    const items = [crumb("province", "", crumbs.querySelector("button.crumb").textContent)];
    if (inputs.province.value) items.push(crumb("city", inputs.province.value, names[inputs.province.value] || ""));
    if (inputs.city.value) items.push(crumb("county", inputs.city.value, names[inputs.city.value] || ""));
    crumbs.replaceChildren(...items);
  };
  const show = async (level, parent) => {
    grid.setAttribute("aria-busy", "true");
    try {
      const url = new URL(picker.dataset.url, window.location.href);
      if (parent) url.searchParams.set("parent", parent);
      const response = await fetch(url, { credentials: "same-origin" });
      if (!response.ok) return;
      const body = await response.json();
      grid.dataset.level = level;
      levelText.textContent = picker.dataset[`level${level[0].toUpperCase()}${level.slice(1)}`];
      grid.replaceChildren(...body.children.map(({ code, name }) => {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "division";
        button.dataset.code = code;
        button.textContent = name;
        button.setAttribute("aria-pressed", String(code === inputs.county.value));
        names[code] = name;
        return button;
      }));
    } finally {
      grid.removeAttribute("aria-busy");
    }
  };
  const setChosen = (text) => { chosen.textContent = text || chosenBox.dataset.none; };

  grid.addEventListener("click", (event) => {
    const button = event.target.closest("button.division");
    if (!button) return;
    const level = grid.dataset.level;
    const code = button.dataset.code;
    if (level === "county") {
      inputs.county.value = code;
      for (const other of grid.querySelectorAll("button.division")) other.setAttribute("aria-pressed", String(other === button));
      const parts = [names[inputs.province.value], names[inputs.city.value], button.textContent];
      setChosen(parts.filter((part, i) => part && (i === 0 || part !== "市辖区")).join(" "));
      document.getElementById("courier-address")?.focus();
      return;
    }
    inputs[level].value = code;
    if (level === "province") inputs.city.value = "";
    inputs.county.value = "";
    setChosen("");
    renderCrumbs();
    show(next[level], code);
  });
  crumbs.addEventListener("click", (event) => {
    const button = event.target.closest("button.crumb");
    if (!button) return;
    const { level, parent } = button.dataset;
    if (level === "province") { inputs.province.value = ""; inputs.city.value = ""; }
    if (level === "city") inputs.city.value = "";
    inputs.county.value = "";
    setChosen("");
    renderCrumbs();
    show(level, parent);
  });
}

export function setupConfirm() {
  const form = document.getElementById("courier-confirm-form");
  if (!form) return;
  form.addEventListener("submit", (event) => {
    const button = document.getElementById("courier-submit");
    if (button.dataset.sent) { event.preventDefault(); return; }
    button.dataset.sent = "1";
    button.setAttribute("aria-disabled", "true");
    button.textContent = form.dataset.submitting;
  });
}

export function setupWait() {
  const form = document.getElementById("courier-wait-form");
  if (form) setTimeout(() => form.submit(), Number(form.dataset.retrySeconds || 3) * 1000);
}

/** Everything the courier screens need; on other pages each part finds nothing and does nothing. */
export function setupCourier() {
  setupChoices(document);
  setupKeyboard();
  setupPicker();
  setupConfirm();
  setupWait();
  setupReshow("courier-reshow");
}
