// Runs the script of a CEHS sheet page in Node with a minimal DOM, answers every item, clicks "save", and prints
// {file, csv, progress, stored} as JSON. Usage: node cehs_page_harness.js PAGE.html
// Each item's score on dimension k is (item position + k) mod (max + 1); the first item gets a comment.
const fs = require("fs");
const page = fs.readFileSync(process.argv[2], "utf8");
const data = page.match(/id="sheet-data">([\s\S]*?)<\/script>/)[1];
const script = page.match(/<script>([\s\S]*?)<\/script>/)[1];

const byId = {};
const inputs = [];
const textareas = [];
function element(tag) {
  const el = {
    tag, children: [], listeners: {}, id: "", className: "", textContent: "", value: "", checked: false,
    classList: { names: new Set(), toggle(name, on) { if (on) this.names.add(name); else this.names.delete(name); } },
    appendChild(child) { this.children.push(child); if (child.id) byId[child.id] = child; return child; },
    addEventListener(type, listener) { this.listeners[type] = listener; },
    click() { if (this.listeners.click) this.listeners.click(); if (this.download) downloads.push(this); },
  };
  if (tag === "input") inputs.push(el);
  if (tag === "textarea") textareas.push(el);
  return el;
}
const downloads = [];
for (const id of ["items", "progress", "save"]) byId[id] = element("div");
byId["sheet-data"] = { textContent: data };
const store = {};
global.document = {
  getElementById: id => byId[id],
  createElement: element,
  createTextNode: text => ({ textContent: text }),
};
global.localStorage = { getItem: k => (k in store ? store[k] : null), setItem: (k, v) => { store[k] = v; } };
global.Blob = class { constructor(parts) { this.text = parts.join(""); } };
global.URL = { createObjectURL: blob => blob };

new Function(script)();
const rows = JSON.parse(data).rows;
const dims = JSON.parse(data).dimensions;
rows.forEach((row, position) => {
  dims.forEach((dim, k) => {
    const score = (position + k) % (dim.max + 1);
    const radio = inputs.find(i => i.name === row.item + "-" + dim.name && Number(i.value) === score);
    radio.checked = true;
    radio.listeners.change();
  });
});
textareas[0].value = 'note "quoted", with comma\nand a new line';
textareas[0].listeners.input();
byId.save.click();
console.log(JSON.stringify({
  file: downloads[0].download, csv: downloads[0].href.text, progress: byId.progress.textContent, stored: store,
}));
