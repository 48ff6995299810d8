// fxmesh web view: polls the node's JSON API and renders it. Every value
// from the mesh is put in the page as text (textContent), never as HTML:
// endpoint records come from peers that may be hostile.
"use strict";

const pollMs = 1000;

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function short(id) {
  return id && id.length > 16 ? id.slice(0, 8) + "…" + id.slice(-6) : (id || "");
}

function idCell(id) {
  const td = el("td", short(id), "id");
  td.title = id || "";
  return td;
}

function when(t) {
  if (!t) return "";
  const d = new Date(t);
  return isNaN(d) ? "" : d.toLocaleTimeString();
}

function took(a, b) {
  if (!a || !b) return "";
  const ms = new Date(b) - new Date(a);
  return ms < 1000 ? ms + " ms" : (ms / 1000).toFixed(1) + " s";
}

function setStatus(text, bad) {
  const s = document.getElementById("status");
  s.textContent = text;
  s.className = "status" + (bad ? " error" : "");
}

async function getJSON(url) {
  const r = await fetch(url, { credentials: "same-origin", cache: "no-store" });
  const body = await r.json().catch(() => ({ error: r.statusText }));
  if (!r.ok) throw Object.assign(new Error(body.error || r.statusText), { status: r.status });
  return body;
}

function replaceRows(tbody, rows) {
  if (rows.length === 0) {
    const td = el("td", "none", "muted");
    td.colSpan = tbody.parentElement.querySelectorAll("thead th").length;
    rows = [el("tr")];
    rows[0].append(td);
    rows[0].className = "empty";
  }
  tbody.replaceChildren(...rows);
}

function labelsText(labels) {
  return Object.keys(labels || {}).sort().map(k => k + "=" + labels[k]).join(" ");
}

function loadText(l) {
  if (!l) return "no heartbeat";
  return l.idle + "/" + l.workers + " idle, " + l.running + " running, " + l.queued + " queued" + (l.accepting ? "" : ", not accepting");
}

// batchText is an endpoint's batch scheduler and its blocks: "slurm
// (debug): 1 pending, 2 running blocks, 4 workers; error: …".
function batchText(b) {
  let t = b.provider + (b.partition ? " (" + b.partition + ")" : "") + ": " +
    b.pending + " pending, " + b.running + " running blocks, " + b.workers + " workers";
  if (b.error) t += "; error: " + b.error;
  return t;
}

function endpointRow(e) {
  const tr = el("tr");
  tr.dataset.id = e.id;
  tr.dataset.name = e.name;
  tr.dataset.online = e.online ? "true" : "false";
  if (!e.online) tr.className = "offline-row";
  const name = el("td");
  const a = el("a", e.name || "(no name)");
  a.href = "/endpoint/" + encodeURIComponent(e.id);
  name.append(a);
  tr.append(name);
  tr.append(el("td", e.online ? "online" : "offline", e.online ? "online" : "offline"));
  tr.append(idCell(e.id));
  const owner = idCell(e.owner);
  if (e.owner && !e.owner_verified) owner.textContent += " (unverified)";
  tr.append(owner);
  tr.append(el("td", e.hardware));
  tr.append(el("td", e.software));
  tr.append(el("td", labelsText(e.labels)));
  tr.append(el("td", (e.datasets || []).join(" ")));
  let load = loadText(e.load);
  if (e.batch) load += "; " + batchText(e.batch);
  tr.append(el("td", load, e.batch && e.batch.error ? "failing" : ""));
  return tr;
}

function functionRow(f) {
  const tr = el("tr");
  tr.dataset.name = f.name;
  tr.append(el("td", f.name));
  tr.append(idCell(f.owner));
  tr.append(el("td", (f.versions || []).join(", ")));
  tr.append(el("td", f.kind + (f.container ? " in " + f.container : "")));
  tr.append(el("td", (f.requirements || []).join(" ")));
  tr.append(el("td", f.description));
  return tr;
}

let filterText = "";

async function refreshMesh() {
  const url = "/api/mesh?require=" + encodeURIComponent(filterText);
  try {
    const v = await getJSON(url);
    document.getElementById("filter-error").hidden = true;
    document.getElementById("node").textContent = v.node.role + " " + short(v.node.id);
    document.getElementById("count").textContent = v.endpoints.length + " of " + v.total + " shown";
    replaceRows(document.querySelector("#endpoints tbody"), v.endpoints.map(endpointRow));
    replaceRows(document.querySelector("#catalog tbody"), v.catalog.map(functionRow));
    setStatus("updated " + when(v.now) + (v.heartbeat_timeout ? "; offline after " + v.heartbeat_timeout + " without a heartbeat" : ""));
  } catch (err) {
    if (err.status === 400) {
      const p = document.getElementById("filter-error");
      p.textContent = err.message;
      p.hidden = false;
      setStatus("filter not applied", true);
    } else {
      setStatus("cannot reach the node: " + err.message, true);
    }
  }
}

function addRecord(dl, name, value) {
  dl.append(el("dt", name), el("dd", value));
}

function taskRow(t) {
  const tr = el("tr");
  tr.dataset.id = t.id;
  tr.dataset.state = t.state;
  tr.append(idCell(t.id));
  const fn = idCell(t.function);
  fn.className = "id function";
  fn.textContent = t.function; // whole: it is what an operator searches for
  tr.append(fn);
  tr.append(idCell(t.caller));
  tr.append(el("td", t.inputs));
  tr.append(el("td", t.state, "state-" + t.state));
  tr.append(el("td", when(t.received)));
  tr.append(el("td", when(t.started)));
  tr.append(el("td", when(t.finished)));
  tr.append(el("td", took(t.received, t.finished)));
  tr.append(el("td", t.error_kind || ""));
  return tr;
}

async function refreshEndpoint(id) {
  try {
    const p = await getJSON("/api/endpoint/" + encodeURIComponent(id));
    const e = p.endpoint;
    document.getElementById("node").textContent = p.node.role + " " + short(p.node.id);
    document.getElementById("ep-name").textContent = (e.name || "(no name)") + " — " + (e.online ? "online" : "offline");
    const dl = document.getElementById("ep-record");
    dl.replaceChildren();
    addRecord(dl, "ID", e.id);
    addRecord(dl, "Owner", (e.owner || "none") + (e.owner && !e.owner_verified ? " (unverified)" : ""));
    addRecord(dl, "State", e.online ? "online" : "offline");
    addRecord(dl, "Hardware", e.hardware);
    addRecord(dl, "Software", e.software);
    addRecord(dl, "Labels", labelsText(e.labels) || "none");
    addRecord(dl, "Datasets", e.datasets.join(" ") || "none");
    addRecord(dl, "Load", loadText(e.load));
    if (e.batch) addRecord(dl, "Blocks", batchText(e.batch));
    addRecord(dl, "Access", e.public ? "public" : "owner and allowed users");
    addRecord(dl, "Record signed", new Date(e.updated).toLocaleString());
    const self = p.self;
    document.getElementById("ep-self").hidden = !self;
    document.getElementById("ep-remote").hidden = !!self;
    if (self) {
      const c = self.config, cfg = document.getElementById("ep-config");
      cfg.replaceChildren();
      addRecord(cfg, "Access", (c.policy.public ? "public" : "owner and " + c.policy.allowed_users + " allowed users") +
        (c.policy.functions_allowed ? "; " + c.policy.functions_allowed + " functions allowed" : "; any function") +
        (c.policy.require_mapping ? "; only the " + c.policy.mapped_users + " mapped users" : ""));
      if (c.policy.worker_uids) addRecord(cfg, "Worker uids", c.policy.worker_uids);
      const l = c.limits;
      addRecord(cfg, "Limits", l.workers + " workers, queue " + l.max_queue + ", input " + l.max_input_bytes +
        " B, output " + l.max_output_bytes + " B, walltime " + l.max_timeout + ", tasks kept " + l.task_retention);
      replaceRows(document.querySelector("#ep-executors tbody"), c.executors.map(x => {
        const tr = el("tr");
        [x.kind, x.runtime || "", x.workers, x.idle, x.running, x.queued].forEach(v => tr.append(el("td", v)));
        return tr;
      }));
      replaceRows(document.querySelector("#tasks tbody"), self.tasks.map(taskRow));
    }
    setStatus("updated " + new Date().toLocaleTimeString());
  } catch (err) {
    setStatus(err.message, true);
  }
}

// loop runs fn now and pollMs after each run ends; the function it returns
// runs fn again at once (after the run in flight, if any).
function loop(fn) {
  let timer = null, busy = false, again = false;
  const run = async () => {
    clearTimeout(timer);
    if (busy) { again = true; return; }
    busy = true;
    try { await fn(); } finally { busy = false; }
    if (again) { again = false; run(); return; }
    timer = setTimeout(run, pollMs);
  };
  run();
  return run;
}

function main() {
  const m = location.pathname.match(/^\/endpoint\/([^/]+)$/);
  if (m) {
    document.getElementById("endpoint-view").hidden = false;
    loop(() => refreshEndpoint(decodeURIComponent(m[1])));
    return;
  }
  document.getElementById("mesh-view").hidden = false;
  const input = document.getElementById("filter");
  const params = new URLSearchParams(location.search);
  filterText = input.value = params.get("require") || "";
  const now = loop(refreshMesh);
  let debounce = null;
  input.addEventListener("input", () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      filterText = input.value.trim();
      const u = new URL(location.href);
      if (filterText) u.searchParams.set("require", filterText); else u.searchParams.delete("require");
      history.replaceState(null, "", u);
      now();
    }, 250);
  });
}

main();
