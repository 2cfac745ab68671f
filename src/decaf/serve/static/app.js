// decaf's page: every call goes to this same server (no CDN, no other origin).
"use strict";
const $ = (id) => document.getElementById(id);

function headers() {
  const h = { "Content-Type": "application/json", "X-Requested-With": "decaf-page" };
  const key = $("api-key").value.trim();
  if (key) h["x-goog-api-key"] = key;
  return h;
}

async function call(method, path, body) {
  const reply = await fetch(path, { method, headers: headers(), body: body && JSON.stringify(body) });
  const data = await reply.json();
  if (!reply.ok) throw new Error((data.error && data.error.message) || reply.statusText);
  return data;
}

function fileBase64(file) {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(String(r.result).split(",", 2)[1]);
    r.onerror = () => reject(r.error);
    r.readAsDataURL(file);
  });
}

function say(id, text, isError) {
  $(id).textContent = text;
  $(id).classList.toggle("error", !!isError);
}

for (const tab of document.querySelectorAll(".tab")) {
  tab.addEventListener("click", () => {
    for (const t of document.querySelectorAll(".tab")) t.classList.toggle("active", t === tab);
    for (const p of document.querySelectorAll(".panel")) p.hidden = p.id !== tab.dataset.panel;
  });
}

// ---- stylize ---------------------------------------------------------------------------
let styles = null;
let running = null;

async function loadStyles() {
  try { styles = await call("GET", "/v1/styles"); } catch (e) { say("st-status", e.message, true); return; }
  say("st-status", "");
  fillStyles();
}

function fillStyles() {
  const method = $("st-method").value;
  const select = $("st-style");
  select.innerHTML = "";
  for (const name of (styles && styles[method]) || []) {
    const o = document.createElement("option");
    o.value = o.textContent = name;
    select.appendChild(o);
  }
}

$("st-method").addEventListener("change", fillStyles);
$("api-key").addEventListener("input", loadStyles);  // the styles need the key, if one is set
$("st-photo").addEventListener("change", () => {
  const f = $("st-photo").files[0];
  if (f) $("st-original").src = URL.createObjectURL(f);
});

function showResult(r) {
  const src = "data:image/png;base64," + r.image.content;
  $("st-result").src = src;
  $("st-download").href = src;
  $("st-download").hidden = false;
}

async function poll(op) {
  running = op.name;
  $("st-cancel").hidden = false;
  $("st-progress").hidden = false;
  while (!op.done) {
    await new Promise((r) => setTimeout(r, 500));
    op = await call("GET", "/v1/" + op.name);
    $("st-progress").value = op.metadata.progress;
    say("st-status", `optimising… ${Math.round(op.metadata.progress * 100)} %`);
  }
  running = null;
  $("st-cancel").hidden = true;
  $("st-progress").hidden = true;
  if (op.response) showResult(op.response);
  if (op.error) say("st-status", op.error.message, op.error.code !== 1);
  else say("st-status", `done in ${op.response.seconds} s`);
}

$("st-run").addEventListener("click", async () => {
  const photo = $("st-photo").files[0];
  if (!photo) { say("st-status", "pick a photo first", true); return; }
  const body = { image: { content: await fileBase64(photo) }, method: $("st-method").value,
                 style: $("st-style").value, alpha: Number($("st-alpha").value),
                 size: Number($("st-size").value) };
  const painting = $("st-painting").files[0];
  if (painting) body.styleImage = { content: await fileBase64(painting) };
  say("st-status", "working…");
  try {
    const r = await call("POST", "/v1/images:stylize", body);
    if (r.name && r.name.startsWith("operations/")) await poll(r);
    else { showResult(r); say("st-status", `done in ${r.seconds} s`); }
  } catch (e) { say("st-status", e.message, true); }
});

$("st-cancel").addEventListener("click", () => {
  if (running) call("POST", "/v1/" + running + ":cancel", {}).catch((e) => say("st-status", e.message, true));
});

// ---- annotate --------------------------------------------------------------------------
function drawFindings(img, r) {
  const c = $("an-canvas");
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const g = c.getContext("2d");
  g.drawImage(img, 0, 0);
  g.lineWidth = Math.max(2, c.width / 300);
  g.font = `${Math.max(12, Math.round(c.width / 40))}px sans-serif`;
  const poly = (pts, color, label) => {
    if (!pts || !pts.length) return;
    g.strokeStyle = color; g.beginPath();
    pts.forEach((p, i) => (i ? g.lineTo : g.moveTo).call(g, p.x || 0, p.y || 0));
    g.closePath(); g.stroke();
    if (label) { g.fillStyle = color; g.fillText(label, (pts[0].x || 0) + 4, (pts[0].y || 0) + 16); }
  };
  for (const o of r.localizedObjectAnnotations || []) {
    const pts = o.boundingPoly.normalizedVertices.map((v) => ({ x: (v.x || 0) * c.width, y: (v.y || 0) * c.height }));
    poly(pts, "#ff3b30", `${o.name} ${o.score.toFixed(2)}`);
  }
  for (const f of r.faceAnnotations || []) poly(f.fdBoundingPoly.vertices, "#34c759", "face");
  for (const w of (r.textAnnotations || []).slice(1)) poly(w.boundingPoly.vertices, "#af52de");
  for (const h of (r.cropHintsAnnotation || {}).cropHints || []) poly(h.boundingPoly.vertices, "#ffcc00");
}

function listFindings(r) {
  const ul = $("an-labels");
  ul.innerHTML = "";
  for (const a of r.labelAnnotations || []) {
    const li = document.createElement("li");
    li.textContent = `${a.description} ${a.score.toFixed(3)}`;  // textContent: never HTML
    ul.appendChild(li);
  }
  const pal = $("an-palette");
  pal.innerHTML = "";
  for (const col of ((r.imagePropertiesAnnotation || {}).dominantColors || {}).colors || []) {
    const s = document.createElement("span");
    const { red = 0, green = 0, blue = 0 } = col.color;
    s.style.background = `rgb(${red},${green},${blue})`;
    s.title = `${Math.round(col.pixelFraction * 100)} % of pixels`;
    pal.appendChild(s);
  }
  const text = (r.textAnnotations || [])[0];
  const safe = r.safeSearchAnnotation;
  $("an-text").textContent = (text ? text.description : "") +
    (safe ? `\nsafe search: adult ${safe.adult}, racy ${safe.racy}` : "");
}

$("an-run").addEventListener("click", async () => {
  const photo = $("an-photo").files[0];
  if (!photo) { say("an-status", "pick a photo first", true); return; }
  const features = [...document.querySelectorAll("#an-features input:checked")].map((i) => ({ type: i.value }));
  say("an-status", "working…");
  try {
    const doc = await call("POST", "/v1/images:annotate",
      { requests: [{ image: { content: await fileBase64(photo) }, features }] });
    const r = doc.responses[0];
    $("an-json").textContent = JSON.stringify(doc, null, 1);
    const img = new Image();
    img.onload = () => { drawFindings(img, r); listFindings(r); };
    img.src = URL.createObjectURL(photo);
    say("an-status", r.error ? r.error.message : "done", !!r.error);
  } catch (e) { say("an-status", e.message, true); }
});

loadStyles();
