// 办件进度 (applications/kiosk.py, templates kiosk/progress*.html).
//
// The lookup screen: the on-screen keys type into the field touched last (办件编号 first, or
// the field the server said to correct); for the last 4 characters only digits and X are
// offered. Nothing is kept in the browser's storage: the form posts, the server answers.
//
// The result screen answers a POST, so 长辈版 / English must not reload its address (that
// would be the empty lookup form): they post the result's short-lived view token again,
// with the choice in the address, and the same result comes back in the new look.
import { applyKey } from "./keyboard.js";
import { setupReshow } from "./nav.js";

export function setupLookupKeyboard() {
  const keyboard = document.getElementById("progress-keyboard");
  if (!keyboard) return;
  const fields = [...document.querySelectorAll("#progress-form input[data-allowed]")];
  const keys = [...keyboard.querySelectorAll("button[data-key]")];
  let target = fields.find((field) => field.getAttribute("aria-invalid") === "true")
    || fields.find((field) => !field.value) || fields[0];

  const mark = () => {
    const allowed = new RegExp(`^${target.dataset.allowed}$`);
    for (const field of fields) field.classList.toggle("is-target", field === target);
    // 删除 and 清空 always work; a character the field cannot hold is visibly off.
    for (const key of keys) key.disabled = key.dataset.key.length === 1 && !allowed.test(key.dataset.key);
  };
  for (const field of fields) {
    field.addEventListener("focus", () => { target = field; mark(); });
    // A hardware keyboard (a helper's) types lower case; numbers are upper case.
    field.addEventListener("input", () => { field.value = field.value.toUpperCase(); });
  }
  keyboard.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-key]");
    if (!button || button.disabled) return;
    const value = applyKey(target.value, { key: button.dataset.key });
    target.value = target.maxLength > 0 ? value.slice(0, target.maxLength) : value;
  });
  mark();
}

/** Started by main.js on every kiosk page; does nothing off the progress screens. */
export function setupProgress() {
  setupLookupKeyboard();
  setupReshow("progress-reshow");
}
