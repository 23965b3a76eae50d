function render({ model, el }) {
  const K = model.get("groups").length, blocks = model.get("blocks");
  const B = blocks.length, N = model.get("images").length;
  const root = document.createElement("div");
  root.className = "mggnet-frames";
  root.innerHTML = `
    <div class="mf-note">Precomputed for ${N} images: this scrubber runs in your browser and
      works without a kernel. Opacity and other images need the live widgets above.</div>
    <div class="mf-row">
      <button class="mf-prev">◀</button>
      <input class="mf-index" type="range" min="0" max="${N - 1}" step="1">
      <button class="mf-next">▶</button> <span class="mf-label"></span>
    </div>
    <div class="mf-row">group <select class="mf-group"></select>
      block <select class="mf-block"></select>
      <label class="mf-gt-wrap"><input class="mf-gt" type="checkbox"> ground truth</label>
    </div>
    <div class="mf-panels"></div>
    <div class="mf-table"></div>`;
  el.appendChild(root);
  const $ = (s) => root.querySelector(s);
  const slider = $(".mf-index"), group = $(".mf-group"), block = $(".mf-block");
  const gt = $(".mf-gt"), panels = $(".mf-panels");
  model.get("groups").forEach((g, k) => group.add(new Option(g, k)));
  [...blocks, ...(B > 1 ? ["both"] : [])].forEach((b) => block.add(new Option(b, b)));
  if (!model.get("gt_frames").length) $(".mf-gt-wrap").style.display = "none";

  function frame(src, title) {
    const fig = document.createElement("figure");
    fig.innerHTML = `<figcaption>${title}</figcaption>`;
    const img = document.createElement("img");
    img.src = src; img.alt = title; img.className = "mf-frame";
    fig.prepend(img);
    return fig;
  }
  function draw() {
    const i = model.get("index"), g = model.get("group"), b = model.get("block");
    slider.value = i; group.value = g; block.value = b;
    $(".mf-label").textContent = `image ${i + 1} / ${N}: ${model.get("images")[i]}`;
    panels.replaceChildren();
    panels.appendChild(frame(model.get("image_frames")[i], "image"));
    const shown = b === "both" ? blocks : [b];
    const gname = model.get("groups")[g];
    for (const s of shown) {
      const t = blocks.indexOf(s);
      panels.appendChild(frame(model.get("mask_frames")[(i * K + g) * B + t], `${s}: ${gname}`));
    }
    if (gt.checked && model.get("gt_frames").length) {
      panels.appendChild(frame(model.get("gt_frames")[i * K + g], `true region: ${gname}`));
    }
    $(".mf-table").innerHTML = model.get("tables")[i * K + g];
  }
  function set(name, value) {
    model.set(name, value);
    try { model.save_changes(); } catch (e) { /* static page: no kernel to tell */ }
    draw();
  }
  slider.addEventListener("input", () => set("index", Number(slider.value)));
  $(".mf-prev").addEventListener("click", () => set("index", Math.max(0, model.get("index") - 1)));
  $(".mf-next").addEventListener("click", () => set("index", Math.min(N - 1, model.get("index") + 1)));
  group.addEventListener("change", () => set("group", Number(group.value)));
  block.addEventListener("change", () => set("block", block.value));
  gt.addEventListener("change", draw);
  for (const name of ["index", "group", "block"]) model.on(`change:${name}`, draw);
  draw();
}
export default { render };
