function render({ model, el }) {
  const box = document.createElement("div");
  box.className = "mggnet-kernel-note mggnet-note-static";
  box.textContent = model.get("static_text");
  el.appendChild(box);
  model.on("msg:custom", (msg) => {
    if (msg && msg.alive) {
      box.className = "mggnet-kernel-note mggnet-note-live";
      box.textContent = model.get("live_text");
    }
  });
  // A running kernel answers this; the static page has none, so the warning stays.
  try { model.send({ ping: 1 }); } catch (e) { /* no kernel: keep the warning */ }
}
export default { render };
