// The page of `ocr serve` / `speech serve`: pick, drop or record a file, send it to the task that accepts it, show
// the text (boxes over the image, words highlighted in time while the audio plays) and download every format.
// It knows no task by name: /api/services lists the endpoints, their options and formats, and what each accepts.
"use strict";

const state = { services: [], active: null, file: null, words: [] };
const $ = (id) => document.getElementById(id);

function setStatus(message, isError = false) {
  $("status").textContent = message;
  $("status").classList.toggle("error", isError);
}

function accepts(service, file) {
  const name = (file.name || "").toLowerCase();
  return service.accept.split(",").some((pattern) => {
    pattern = pattern.trim().toLowerCase();
    if (pattern.startsWith(".")) return name.endsWith(pattern);
    if (pattern.endsWith("/*")) return (file.type || "").startsWith(pattern.slice(0, -1));
    return file.type === pattern;
  });
}

function selectService(service) {
  state.active = service;
  for (const button of $("tasks").children) button.classList.toggle("active", button.dataset.name === service.name);
  $("file-input").accept = service.accept;
  const form = $("options");
  form.replaceChildren();
  for (const option of service.endpoints[0].options) {
    if (option.name === "format") continue;  // the answer is JSON here; the downloads give the other formats
    const label = document.createElement("label");
    label.title = option.help;
    label.append(option.name);
    let input;
    if (option.choices) {
      input = document.createElement("select");
      for (const choice of option.choices) input.append(new Option(choice, choice, false, choice === option.default));
    } else {
      input = document.createElement("input");
      input.type = option.kind === "integer" || option.kind === "number" ? "number" : "text";
      input.placeholder = option.default == null ? "default" : String(option.default);
    }
    input.name = option.name;
    input.dataset.default = option.default == null ? "" : String(option.default);
    label.append(input);
    form.append(label);
  }
}

function query(format) {
  const params = new URLSearchParams();
  for (const input of $("options").elements) {
    if (input.value !== "" && input.value !== input.dataset.default) params.set(input.name, input.value);
  }
  params.set("format", format);
  return params.toString();
}

async function post(service, file, format) {
  const body = new FormData();
  body.append("file", file, file.name || "upload");
  const response = await fetch(`${service.endpoints[0].path}?${query(format)}`, { method: "POST", body });
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try { message = `${response.status}: ${(await response.json()).error}`; } catch (_) { /* not JSON */ }
    throw new Error(message);
  }
  return response;
}

async function handleFile(file) {
  const service = state.services.find((s) => accepts(s, file)) || state.active;
  if (service !== state.active) selectService(service);
  state.file = file;
  setStatus(`Sending ${file.name || "the recording"} to ${service.title.toLowerCase()}…`);
  $("result").hidden = true;
  const started = performance.now();
  try {
    const result = await (await post(service, file, "json")).json();
    show(result, file);
    const seconds = ((performance.now() - started) / 1000).toFixed(2);
    setStatus(`Done in ${seconds} s.`);
  } catch (error) {
    setStatus(error.message, true);
  }
}

function show(result, file) {
  $("result").hidden = false;
  $("source").textContent = file.name ? `(${file.name})` : "";
  const text = $("text");
  text.replaceChildren();
  $("boxes").replaceChildren();
  $("image-wrap").hidden = true;
  $("audio").hidden = true;
  state.words = [];
  const url = URL.createObjectURL(file);
  if (result.segments) {
    showTimedWords(result, url);
  } else if (result.pages) {
    for (const page of result.pages) {
      const heading = document.createElement("span");
      heading.className = "page";
      heading.textContent = `page ${page.page ? page.page.number : ""}`;
      text.append(heading, page.text + "\n");
    }
  } else {
    text.textContent = result.text;
    if ((file.type || "").startsWith("image/") || /\.(png|jpe?g|gif|bmp|webp)$/i.test(file.name || "")) {
      showImage(result, url);
    }
  }
  text.dataset.ready = "1";
  showDownloads(file);
}

function showImage(result, url) {
  const image = $("image");
  image.onload = () => {
    const boxes = $("boxes");
    const sx = 100 / image.naturalWidth, sy = 100 / image.naturalHeight;
    const place = (element, [left, top, right, bottom]) => {
      Object.assign(element.style, { left: `${left * sx}%`, top: `${top * sy}%`,
                                     width: `${(right - left) * sx}%`, height: `${(bottom - top) * sy}%` });
      boxes.append(element);
    };
    for (const line of result.lines || []) {
      const box = document.createElement("div");
      box.className = "line";
      box.title = `${line.text} (${Math.round(line.confidence * 100)}%)`;
      place(box, line.box);
      for (const word of line.words || []) {
        const element = document.createElement("div");
        element.className = "word";
        element.title = word.text;
        place(element, word.box);
      }
    }
  };
  image.src = url;
  $("image-wrap").hidden = false;
}

function showTimedWords(result, url) {
  const text = $("text"), audio = $("audio");
  result.segments.forEach((segment, s) => {
    if (s > 0) text.append("\n");
    segment.words.forEach((word, w) => {
      if (w > 0) text.append(" ");
      const span = document.createElement("span");
      span.className = "w";
      span.textContent = word.text;
      span.dataset.start = word.start;
      span.dataset.end = word.end;
      span.onclick = () => { audio.currentTime = word.start; audio.play(); };
      text.append(span);
      state.words.push({ span, start: word.start, end: word.end });
    });
  });
  if (!result.segments.length) text.textContent = result.text;
  audio.src = url;
  audio.hidden = false;
}

function highlight() {
  const time = $("audio").currentTime;
  for (const word of state.words) word.span.classList.toggle("active", time >= word.start && time < word.end);
  if (!$("audio").paused) requestAnimationFrame(highlight);
}

function showDownloads(file) {
  const downloads = $("downloads");
  downloads.replaceChildren();
  const service = state.active;
  const stem = (file.name || "recording").replace(/\.[^.]*$/, "");
  for (const [format, suffix] of Object.entries(service.endpoints[0].formats)) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = format;
    button.dataset.format = format;
    button.onclick = async () => {
      try {
        const blob = await (await post(service, file, format)).blob();
        const link = document.createElement("a");
        link.href = URL.createObjectURL(blob);
        link.download = stem + suffix;
        link.click();
      } catch (error) {
        setStatus(error.message, true);
      }
    };
    downloads.append(button);
  }
}

// --- recording: MediaRecorder, then decoded and written as 16-bit mono WAV (every server reads WAV) -------------
let recorder = null;

async function toggleRecording() {
  const button = $("record");
  if (recorder) { recorder.stop(); return; }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (error) {
    setStatus(`No microphone: ${error.message}`, true);
    return;
  }
  const chunks = [];
  recorder = new MediaRecorder(stream);
  recorder.ondataavailable = (event) => chunks.push(event.data);
  recorder.onstop = async () => {
    stream.getTracks().forEach((track) => track.stop());
    recorder = null;
    button.classList.remove("recording");
    button.textContent = "Record";
    const recorded = new Blob(chunks, { type: chunks[0] ? chunks[0].type : "audio/webm" });
    const wav = await toWav(recorded);
    handleFile(new File([wav], "recording.wav", { type: "audio/wav" }));
  };
  recorder.start();
  button.classList.add("recording");
  button.textContent = "Stop";
  setStatus("Recording… press Stop when done.");
}

async function toWav(blob) {
  const context = new AudioContext();
  const decoded = await context.decodeAudioData(await blob.arrayBuffer());
  context.close();
  const samples = decoded.getChannelData(0), rate = decoded.sampleRate;
  const buffer = new ArrayBuffer(44 + samples.length * 2), view = new DataView(buffer);
  const write = (offset, text) => { for (let i = 0; i < text.length; i++) view.setUint8(offset + i, text.charCodeAt(i)); };
  write(0, "RIFF"); view.setUint32(4, 36 + samples.length * 2, true); write(8, "WAVE"); write(12, "fmt ");
  view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
  view.setUint32(24, rate, true); view.setUint32(28, rate * 2, true); view.setUint16(32, 2, true);
  view.setUint16(34, 16, true); write(36, "data"); view.setUint32(40, samples.length * 2, true);
  samples.forEach((value, i) => view.setInt16(44 + i * 2, Math.max(-1, Math.min(1, value)) * 0x7fff, true));
  return buffer;
}

async function start() {
  const drop = $("drop");
  $("file-input").onchange = (event) => { if (event.target.files[0]) handleFile(event.target.files[0]); };
  drop.ondragover = (event) => { event.preventDefault(); drop.classList.add("over"); };
  drop.ondragleave = () => drop.classList.remove("over");
  drop.ondrop = (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    if (event.dataTransfer.files[0]) handleFile(event.dataTransfer.files[0]);
  };
  $("audio").onplay = () => requestAnimationFrame(highlight);
  $("audio").ontimeupdate = highlight;
  $("record").onclick = toggleRecording;
  try {
    state.services = (await (await fetch("/api/services")).json()).services;
  } catch (error) {
    setStatus(`The server does not answer: ${error.message}`, true);
    return;
  }
  for (const service of state.services) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = service.title;
    button.dataset.name = service.name;
    button.onclick = () => selectService(service);
    $("tasks").append(button);
  }
  $("file-input").accept = state.services.map((s) => s.accept).join(",");
  const canRecord = state.services.some((s) => s.accept.includes("audio/")) && window.MediaRecorder;
  $("record").hidden = !canRecord;
  selectService(state.services[0]);
  $("file-input").accept = state.services.map((s) => s.accept).join(",");
  setStatus("Ready: drop or pick a file" + (canRecord ? ", or record from the microphone." : "."));
  document.body.dataset.ready = "1";
}

start();
