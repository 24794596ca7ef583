// The page of `lstmgen serve`: stream a completion into #text; list the next-token probabilities.
// Query parameters fill the form: ?prime=...&temperature=...&top_p=...&length=...&seed=...,
// and &autostart=1 generates at once, &probs=1 lists the probabilities when it ends.
// A server started with --api-key answers 401: the page then asks for the key and sends it.
"use strict";
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
let model = null, controller = null, generated = "";

for (const id of ["prime", "temperature", "top_p", "length", "seed"]) {
  if (params.has(id)) $(id).value = params.get(id);
}
for (const out of document.querySelectorAll("output")) {
  const input = $(out.htmlFor.value);
  const show = () => { out.textContent = input.value; };
  input.addEventListener("input", show);
  show();
}

function status(text) { $("status").textContent = text; }

function show(prime, continuation) {
  const text = $("text");
  text.textContent = "";
  const span = document.createElement("span");
  span.className = "prime";
  span.textContent = prime;
  text.append(span, continuation);
}

function headers(extra) {
  const key = $("key").value;
  return key ? {...extra, "Authorization": `Bearer ${key}`} : extra;
}

async function post(path, body, signal) {
  const response = await fetch(path, {method: "POST", headers: headers({"Content-Type": "application/json"}),
                                      body: JSON.stringify(body), signal});
  if (!response.ok) {
    let message = response.statusText;
    try { message = (await response.json()).error.message; } catch (e) { /* not JSON */ }
    throw new Error(`${response.status}: ${message}`);
  }
  return response;
}

async function generate() {
  const prime = $("prime").value;
  const body = {model, prompt: prime, max_tokens: Number($("length").value), stream: true,
                temperature: Number($("temperature").value), top_p: Number($("top_p").value)};
  if ($("seed").value !== "") body.seed = Number($("seed").value);
  controller = new AbortController();
  $("go").disabled = true; $("stop").disabled = false;
  generated = "";
  show(prime, "");
  status("generating…");
  const started = performance.now();
  let finish = null;
  try {
    const reader = (await post("/v1/completions", body, controller.signal)).body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, {stream: true});
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (!line.startsWith("data: ") || line === "data: [DONE]") continue;
        const chunk = JSON.parse(line.slice(6));
        if (chunk.error) throw new Error(chunk.error.message);
        for (const choice of chunk.choices) {
          generated += choice.text;
          finish = choice.finish_reason || finish;
        }
        show(prime, generated);
      }
    }
    const seconds = (performance.now() - started) / 1000;
    status(`done (${finish}): ${generated.length} characters in ${seconds.toFixed(2)} s`);
    if (params.get("probs") === "1") await nextTokenProbs();
  } catch (e) {
    status(e.name === "AbortError" ? "stopped" : `error: ${e.message}`);
  } finally {
    $("go").disabled = false; $("stop").disabled = true;
  }
}

async function nextTokenProbs() {
  const prompt = $("prime").value + generated;
  try {
    const result = await (await post("/v1/lstmgen/next_token_probs", {model, prompt, k: 10})).json();
    const table = $("probtable");
    table.textContent = "";
    const caption = table.createCaption();
    caption.textContent = `most likely next tokens after …${JSON.stringify(prompt.slice(-20))}`;
    for (const {token, prob} of result.tokens) {
      const row = table.insertRow();
      row.insertCell().textContent = JSON.stringify(token);
      row.insertCell().textContent = prob.toFixed(4);
      const bar = row.insertCell();
      bar.className = "bar";
      const div = document.createElement("div");
      div.style.width = `${Math.round(prob * 300)}px`;
      bar.append(div);
    }
  } catch (e) {
    status(`error: ${e.message}`);
  }
}

$("go").addEventListener("click", generate);
$("stop").addEventListener("click", () => controller && controller.abort());
$("probs").addEventListener("click", nextTokenProbs);

function loadModel() {
  fetch("/v1/models", {headers: headers({})}).then((r) => {
    if (r.status === 401) {
      $("keybox").hidden = false;
      throw new Error("this server needs an API key: enter it beside the buttons");
    }
    return r.json();
  }).then((list) => {
    model = list.data[0].id;
    $("model").textContent = model;
    status("");
    if (params.get("autostart") === "1") generate();
  }).catch((e) => status(`error: ${e.message}`));
}

$("key").addEventListener("change", loadModel);
loadModel();
