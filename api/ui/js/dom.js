// Small DOM helpers: build elements, format values, keep what is typed in forms.

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function when(seconds) {
  if (seconds === null || seconds === undefined) return "";
  const d = new Date(seconds * 1000);
  return d.toLocaleString([], { dateStyle: "short", timeStyle: "medium" });
}

export function num(value, digits = 2) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  return Number(value).toFixed(digits).replace(/\.?0+$/, "") || "0";
}

// Forms marked data-draft keep their fields in sessionStorage, so a sign-in forced by an
// expired session returns to what was typed.
export function keepDraft(form) {
  const key = `berth.draft.${form.dataset.draft}`;
  const saved = JSON.parse(sessionStorage.getItem(key) || "{}");
  for (const field of form.elements) {
    if (field.name && field.type !== "file" && saved[field.name] !== undefined) {
      field.value = saved[field.name];
    }
  }
  form.addEventListener("input", () => {
    const values = {};
    for (const field of form.elements) {
      if (field.name && field.type !== "file") values[field.name] = field.value;
    }
    sessionStorage.setItem(key, JSON.stringify(values));
  });
}

export function dropDraft(form) {
  sessionStorage.removeItem(`berth.draft.${form.dataset.draft}`);
}

// The API's field errors next to the fields they name (data-field on a field's wrapper;
// what names no field goes to the form's own message).
// The form's message line, shown as a success (showErrors makes it an error again).
export function ok(form) {
  const line = form.querySelector(".form-message");
  line.classList.add("ok");
  return line;
}

export function showErrors(form, error) {
  for (const old of form.querySelectorAll(".field-error")) old.remove();
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  const general = form.querySelector(".form-message");
  general.textContent = "";
  general.classList.remove("ok");
  if (!error) return;
  const unplaced = [];
  for (const { field, problem } of error.errors || []) {
    const wrapper = field && form.querySelector(`[data-field="${CSS.escape(field)}"]`);
    if (wrapper) {
      const id = `err-${Math.random().toString(36).slice(2)}`;
      wrapper.append(h("span", { class: "field-error", id, role: "alert" }, problem));
      const input = wrapper.querySelector("input, select, textarea");
      if (input) {
        input.setAttribute("aria-invalid", "true");
        input.setAttribute("aria-describedby", id);
      }
    } else {
      unplaced.push(field ? `${field}: ${problem}` : problem);
    }
  }
  general.textContent = [error.message, ...unplaced].filter(Boolean).join(" · ");
}
