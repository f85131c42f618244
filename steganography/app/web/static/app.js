// stegavox serve: the page's behaviour. No third-party code; talks only to this server.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  // Timings of the last hide (performance.now() milliseconds), read by the browser tests.
  const timings = (window.stegavoxTimings = {});
  // Audio formats the server reads as they are (soundfile); others are decoded here to a WAV.
  const READABLE_AUDIO = /\.(wav|flac|ogg|oga|opus|mp3|aiff?|au)$/i;
  const POLL_MS = 250;

  const state = {
    audio: null,        // Blob sent to the server (the file as chosen, or a WAV)
    audioName: null,
    audioSeconds: null,
    cover: null,
    platforms: [],
    capacity: null,
    capacitySeq: 0,
    enhanceSeq: 0,
    urls: {},
  };

  // ---------- tabs ----------
  function showTab() {
    const receive = location.hash === "#receive";
    $("send").hidden = receive;
    $("receive").hidden = !receive;
    $("tab-send").setAttribute("aria-selected", String(!receive));
    $("tab-receive").setAttribute("aria-selected", String(receive));
  }
  window.addEventListener("hashchange", showTab);

  function setUrl(key, blob) {
    if (state.urls[key]) URL.revokeObjectURL(state.urls[key]);
    state.urls[key] = blob ? URL.createObjectURL(blob) : null;
    return state.urls[key];
  }

  function showError(id, message) {
    const element = $(id);
    element.textContent = message || "";
    element.hidden = !message;
  }

  async function errorLine(response) {
    try {
      const body = await response.json();
      if (body && body.error) return body.error;
    } catch (e) { /* not JSON: a refusal of the guard */ }
    try {
      return (await response.text()) || `error ${response.status}`;
    } catch (e) {
      return `error ${response.status}`;
    }
  }

  function formatSeconds(seconds) {
    if (seconds === null || seconds === undefined || !isFinite(seconds)) return "?";
    if (seconds >= 90) return `${(seconds / 60).toFixed(1)} min`;
    return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  }

  // ---------- audio: record or choose, converted to WAV when needed ----------
  function encodeWav(buffer) {
    const channels = Math.min(buffer.numberOfChannels, 2);
    const frames = buffer.length;
    const rate = buffer.sampleRate;
    const data = new DataView(new ArrayBuffer(44 + frames * channels * 2));
    const text = (offset, s) => { for (let i = 0; i < s.length; i++) data.setUint8(offset + i, s.charCodeAt(i)); };
    text(0, "RIFF"); data.setUint32(4, 36 + frames * channels * 2, true); text(8, "WAVE");
    text(12, "fmt "); data.setUint32(16, 16, true); data.setUint16(20, 1, true); data.setUint16(22, channels, true);
    data.setUint32(24, rate, true); data.setUint32(28, rate * channels * 2, true);
    data.setUint16(32, channels * 2, true); data.setUint16(34, 16, true);
    text(36, "data"); data.setUint32(40, frames * channels * 2, true);
    const planes = [];
    for (let c = 0; c < channels; c++) planes.push(buffer.getChannelData(c));
    let offset = 44;
    for (let i = 0; i < frames; i++) {
      for (let c = 0; c < channels; c++) {
        const s = Math.max(-1, Math.min(1, planes[c][i]));
        data.setInt16(offset, s < 0 ? Math.round(s * 0x8000) : Math.round(s * 0x7fff), true);
        offset += 2;
      }
    }
    return new Blob([data], { type: "audio/wav" });
  }

  async function decode(blob) {
    const context = new OfflineAudioContext(1, 1, 48000);
    return await context.decodeAudioData(await blob.arrayBuffer());
  }

  async function setAudio(blob, name, alreadyReadable) {
    showError("send-error", "");
    $("audio-info").textContent = "Reading the audio…";
    let sent = blob;
    let seconds = null;
    try {
      const decoded = await decode(blob);
      seconds = decoded.duration;
      if (!alreadyReadable) {
        sent = encodeWav(decoded);
        name = name.replace(/\.[^.]*$/, "") + ".wav";
      }
    } catch (e) {
      if (!alreadyReadable) {
        $("audio-info").textContent = "";
        showError("send-error", `${name}: this browser cannot read this audio file; try a WAV, FLAC or Ogg file`);
        return;
      }
    }
    state.audio = sent;
    state.audioName = name;
    state.audioSeconds = seconds;
    $("before").src = setUrl("before", blob);
    $("before-figure").hidden = false;
    $("after-figure").hidden = true;
    $("audio-info").textContent = `${name}${seconds !== null ? ", " + formatSeconds(seconds) : ""}`;
    renderCapacity();
    if ($("enhance").checked) enhancePreview();
  }

  $("audio-file").addEventListener("change", (event) => {
    const file = event.target.files[0];
    if (file) setAudio(file, file.name, READABLE_AUDIO.test(file.name));
  });

  let recorder = null;
  let recordStart = 0;
  let recordTimer = null;
  $("record").addEventListener("click", async () => {
    if (recorder && recorder.state === "recording") {
      recorder.stop();
      return;
    }
    if (!navigator.mediaDevices || !window.MediaRecorder) {
      showError("send-error", "recording needs this page on localhost or HTTPS; choose an audio file instead");
      return;
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (e) {
      showError("send-error", `no microphone: ${e.message || e.name}`);
      return;
    }
    const chunks = [];
    recorder = new MediaRecorder(stream);
    recorder.addEventListener("dataavailable", (event) => { if (event.data.size) chunks.push(event.data); });
    recorder.addEventListener("stop", () => {
      clearInterval(recordTimer);
      stream.getTracks().forEach((track) => track.stop());
      $("record").textContent = "● Record";
      $("record-time").textContent = "";
      const type = recorder.mimeType || "audio/webm";
      setAudio(new Blob(chunks, { type }), "recording.webm", false);
    });
    recorder.start();
    recordStart = performance.now();
    $("record").textContent = "■ Stop";
    recordTimer = setInterval(() => {
      $("record-time").textContent = `recording ${formatSeconds((performance.now() - recordStart) / 1000)}`;
    }, 200);
  });

  async function enhancePreview() {
    if (!state.audio) return;
    const seq = ++state.enhanceSeq;
    $("enhance-info").textContent = "Cleaning up the speech (a preview; the same clean-up runs when hiding)…";
    const form = new FormData();
    form.append("audio", state.audio, state.audioName);
    const response = await fetch("/api/enhance", { method: "POST", body: form });
    if (seq !== state.enhanceSeq) return;
    if (!response.ok) {
      $("enhance-info").textContent = "";
      showError("send-error", await errorLine(response));
      return;
    }
    $("after").src = setUrl("after", await response.blob());
    $("after-figure").hidden = false;
    $("enhance-info").textContent = "Compare before and after.";
  }

  $("enhance").addEventListener("change", () => {
    if ($("enhance").checked) enhancePreview();
    else { state.enhanceSeq++; $("after-figure").hidden = true; $("enhance-info").textContent = ""; }
  });

  // ---------- photo ----------
  function dropZone(zoneId, inputId, onFile) {
    const zone = $(zoneId);
    const input = $(inputId);
    input.addEventListener("change", () => { if (input.files[0]) onFile(input.files[0]); });
    zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("over");
      const file = event.dataTransfer.files[0];
      if (file) onFile(file);
    });
    zone.addEventListener("keydown", (event) => { if (event.key === "Enter" || event.key === " ") input.click(); });
  }

  function preview(imgId, infoId, key, file) {
    const img = $(imgId);
    img.onload = () => { $(infoId).textContent = `${file.name}, ${img.naturalWidth}×${img.naturalHeight}, ${(file.size / 1024).toFixed(0)} kB`; };
    img.onerror = () => { $(infoId).textContent = `${file.name}, ${(file.size / 1024).toFixed(0)} kB`; };
    img.src = setUrl(key, file);
    img.hidden = false;
    img.parentElement.classList.add("has-image");
  }

  dropZone("cover-drop", "cover-file", (file) => {
    state.cover = file;
    showError("send-error", "");
    preview("cover-preview", "cover-info", "cover", file);
    measureCapacity();
  });

  // ---------- platform and capacity ----------
  function selectedPlatform() {
    return state.platforms.find((p) => p.name === $("platform").value) || null;
  }

  function platformChanged() {
    const platform = selectedPlatform();
    $("hd-label").hidden = !(platform && platform.hd);
    if (!(platform && platform.hd)) $("hd").checked = false;
    $("crop-robust-label").hidden = !(platform && platform.crop_robust);
    if (!(platform && platform.crop_robust)) $("crop-robust").checked = false;
    $("platform-info").textContent = platform ? platform.summary : "";
    measureCapacity();
  }
  $("platform").addEventListener("change", platformChanged);
  $("hd").addEventListener("change", measureCapacity);
  $("crop-robust").addEventListener("change", measureCapacity);
  $("detectable").addEventListener("change", renderCapacity);

  async function measureCapacity() {
    if (!state.cover) return;
    const seq = ++state.capacitySeq;
    state.capacity = null;
    $("capacity").textContent = "Measuring how much speech this photo holds…";
    const form = new FormData();
    form.append("cover", state.cover, state.cover.name);
    form.append("platform", $("platform").value);
    form.append("hd", $("hd").checked ? "1" : "");
    form.append("crop_robust", $("crop-robust").checked ? "1" : "");
    let response;
    try {
      response = await fetch("/api/capacity", { method: "POST", body: form });
    } catch (e) {
      if (seq === state.capacitySeq) $("capacity").textContent = "The server did not answer.";
      return;
    }
    if (seq !== state.capacitySeq) return;
    if (!response.ok) {
      $("capacity").textContent = "";
      showError("send-error", await errorLine(response));
      return;
    }
    state.capacity = await response.json();
    renderCapacity();
  }

  function best(seconds) {
    let top = null;
    for (const [label, value] of Object.entries(seconds)) {
      if (label === "pcm16") continue;
      if (!top || value > top[1]) top = [label, value];
    }
    return top || ["", 0];
  }

  function firstFitting(seconds, needed) {
    for (const [label, value] of Object.entries(seconds)) {
      if (label !== "pcm16" && value >= needed) return label;
    }
    return null;
  }

  function renderCapacity() {
    const box = $("capacity");
    const c = state.capacity;
    if (!c) return;
    box.textContent = "";
    const [covertLabel, covert] = best(c.covert_seconds);
    const [maxLabel, maximum] = best(c.seconds);
    const summary = document.createElement("p");
    const strong = (text) => { const b = document.createElement("strong"); b.textContent = text; return b; };
    summary.append(`${c.size[0]}×${c.size[1]} after fitting: `);
    if (covert > 0) summary.append(strong(`${formatSeconds(covert)} covertly`), ` (${covertLabel}), `);
    else summary.append(strong("nothing covertly"), ", ");
    if (maximum > 0) summary.append(strong(`${formatSeconds(maximum)} at most`), ` (${maxLabel}, detectable).`);
    else summary.append(strong("nothing at all"), ": choose a larger photo.");
    box.append(summary);
    if (state.audioSeconds !== null && state.audioSeconds !== undefined) {
      const fit = document.createElement("p");
      const duration = formatSeconds(state.audioSeconds);
      const covertCodec = firstFitting(c.covert_seconds, state.audioSeconds);
      const maxCodec = firstFitting(c.seconds, state.audioSeconds);
      const allowed = $("detectable").checked;
      if (covertCodec) fit.textContent = `Your ${duration} fit covertly, as ${covertCodec}.`;
      else if (maxCodec && allowed) fit.textContent = `Your ${duration} fit detectably, as ${maxCodec} (allowed below).`;
      else if (maxCodec) fit.textContent = `Your ${duration} fit only detectably (${maxCodec}): tick "Allow more speech", or use a larger photo or a shorter note.`;
      else fit.textContent = `Your ${duration} do not fit: use a larger photo or a shorter note.`;
      fit.className = covertCodec || (maxCodec && allowed) ? "ok" : "warn";
      box.append(fit);
    }
    const details = document.createElement("details");
    const title = document.createElement("summary");
    title.textContent = "Seconds per codec";
    details.append(title);
    const table = document.createElement("table");
    const head = table.insertRow();
    for (const text of ["codec", "covert", "maximum"]) { const th = document.createElement("th"); th.textContent = text; head.append(th); }
    for (const [label, value] of Object.entries(c.seconds)) {
      const row = table.insertRow();
      row.insertCell().textContent = label;
      row.insertCell().textContent = formatSeconds(c.covert_seconds[label]);
      row.insertCell().textContent = formatSeconds(value);
    }
    details.append(table);
    box.append(details);
    for (const line of c.notes || []) {
      const note = document.createElement("p");
      note.className = "muted";
      note.textContent = `note: ${line}`;
      box.append(note);
    }
  }

  // ---------- passphrase ----------
  // A rough guess of the passphrase's entropy: random characters from the classes it uses, or, for
  // words, about 11 bits a word (one of ~2000 common words), whichever is less.
  function strength(passphrase) {
    if (!passphrase) return [0, ""];
    let pool = 0;
    if (/[a-z]/.test(passphrase)) pool += 26;
    if (/[A-Z]/.test(passphrase)) pool += 26;
    if (/[0-9]/.test(passphrase)) pool += 10;
    if (/[^A-Za-z0-9\s]/.test(passphrase)) pool += 33;
    if (/\s/.test(passphrase)) pool += 1;
    const unique = new Set(passphrase).size;
    let bits = Math.min(passphrase.length, unique * 2) * Math.log2(Math.max(pool, 2));
    const words = passphrase.trim().split(/[\s\-_.,]+/).filter((w) => w.length > 0);
    if (words.length >= 2 || /^[A-Za-z]+$/.test(passphrase)) {
      const extra = (/[0-9]/.test(passphrase) ? 3 : 0) + (/[^A-Za-z0-9\s]/.test(passphrase) ? 4 : 0) + (/[A-Z]/.test(passphrase) ? 2 : 0);
      bits = Math.min(bits, words.length * 11 + extra);
    }
    // One word with a few substitutions and a suffix (Tr0ub4dor&3, hunter2): a dictionary word.
    const [, base, suffix] = /^(.*?)([^A-Za-z]{0,4})$/.exec(passphrase);
    const plain = base.replace(/0/g, "o").replace(/[1!|]/g, "l").replace(/3/g, "e").replace(/[4@]/g, "a")
      .replace(/[5$]/g, "s").replace(/7/g, "t");
    if (words.length === 1 && /^[A-Za-z]+$/.test(plain)) bits = Math.min(bits, 20 + 4 * suffix.length);
    if (/^(.)\1*$/.test(passphrase) || /^(0123|1234|abcd|qwer|pass)/i.test(passphrase)) bits = Math.min(bits, 10);
    let text;
    if (bits < 35) text = "weak: a computer could guess it; use four or more random words";
    else if (bits < 50) text = "fair: add a word or two";
    else if (bits < 70) text = "good";
    else text = "strong";
    return [Math.min(100, bits * 100 / 80), `${text} (about ${Math.round(bits)} bits, a rough estimate)`];
  }

  $("send-passphrase").addEventListener("input", () => {
    const [value, text] = strength($("send-passphrase").value);
    $("strength").value = value;
    $("strength-text").textContent = text;
  });

  for (const button of document.querySelectorAll(".reveal-toggle")) {
    button.addEventListener("click", () => {
      const input = $(button.dataset.for);
      const shown = input.type === "text";
      input.type = shown ? "password" : "text";
      button.textContent = shown ? "Show" : "Hide";
    });
  }

  // ---------- hide ----------
  function showProgress(status) {
    $("send-progress").hidden = false;
    const bar = $("send-bar");
    if (status.fraction === null || status.fraction === undefined) bar.removeAttribute("value");
    else bar.value = status.fraction;
    $("send-stage").textContent = status.state === "queued" ? "waiting for the previous hide…" : `${status.stage}…`;
    if (timings.firstProgress === undefined) timings.firstProgress = performance.now();
    if (status.state === "running" && timings.firstRunning === undefined) timings.firstRunning = performance.now();
  }

  function sleep(ms) { return new Promise((resolve) => setTimeout(resolve, ms)); }

  $("send-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    for (const key of Object.keys(timings)) delete timings[key];
    timings.click = performance.now();
    showError("send-error", "");
    $("send-result").hidden = true;
    if (!state.audio) return showError("send-error", "record or choose your voice note first");
    if (!state.cover) return showError("send-error", "choose a photo first");
    if (!$("send-passphrase").value) return showError("send-error", "the passphrase is empty");
    const form = new FormData();
    form.append("cover", state.cover, state.cover.name);
    form.append("audio", state.audio, state.audioName);
    form.append("passphrase", $("send-passphrase").value);
    form.append("platform", $("platform").value);
    form.append("enhance", $("enhance").checked ? "1" : "");
    form.append("hd", $("hd").checked ? "1" : "");
    form.append("crop_robust", $("crop-robust").checked ? "1" : "");
    form.append("detectable_ok", $("detectable").checked ? "1" : "");
    $("hide").disabled = true;
    showProgress({ state: "running", stage: "uploading", fraction: null });
    delete timings.firstProgress; delete timings.firstRunning;  // the upload itself is not the server's progress
    try {
      const response = await fetch("/api/hide", { method: "POST", body: form });
      if (!response.ok) throw new Error(await errorLine(response));
      let status = await response.json();
      showProgress(status);
      while (status.state === "queued" || status.state === "running") {
        await sleep(POLL_MS);
        const poll = await fetch(`/api/jobs/${encodeURIComponent(status.job)}`);
        if (!poll.ok) throw new Error(await errorLine(poll));
        status = await poll.json();
        showProgress(status);
      }
      if (status.state === "error") throw new Error(status.error);
      const file = await fetch(`/api/jobs/${encodeURIComponent(status.job)}/file`);
      if (!file.ok) throw new Error(await errorLine(file));
      const blob = await file.blob();
      fetch(`/api/jobs/${encodeURIComponent(status.job)}`, { method: "DELETE" });
      showResult(status.report, blob);
      timings.done = performance.now();
    } catch (error) {
      showError("send-error", error.message);
    } finally {
      $("send-progress").hidden = true;
      $("hide").disabled = false;
    }
  });

  function showResult(report, blob) {
    const jpeg = report.output_format === "jpeg";
    const url = setUrl("stego", blob);
    $("stego-preview").src = url;
    const link = $("stego-download");
    link.href = url;
    link.download = jpeg ? "stego.jpg" : "stego.png";
    link.textContent = `Download the photo (${jpeg ? "JPEG" : "PNG"}, ${(blob.size / 1024).toFixed(0)} kB)`;
    const where = report.platform ? (report.platform === "any" ? " for any platform" : ` for ${selectedPlatform() ? selectedPlatform().label : report.platform}`) : "";
    $("stego-summary").textContent =
      `Hid ${report.seconds.toFixed(1)} s of speech as ${report.codec_label} (${report.audio_bytes} bytes) in ` +
      `${report.stego_size[0]}×${report.stego_size[1]}${where}. PSNR ${report.psnr_db.toFixed(1)} dB` +
      `${report.survives ? "; checked against the platform's recompression." : "; NOT every check passed."}`;
    const notes = $("stego-notes");
    notes.textContent = "";
    for (const line of report.notes || []) {
      const item = document.createElement("li");
      item.textContent = line;
      notes.append(item);
    }
    $("send-result").hidden = false;
  }

  // ---------- receive ----------
  let stegoFile = null;
  dropZone("stego-drop", "stego-file", (file) => {
    stegoFile = file;
    showError("receive-error", "");
    preview("received-preview", "stego-info", "received", file);
  });

  $("receive-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    showError("receive-error", "");
    $("receive-result").hidden = true;
    if (!stegoFile) return showError("receive-error", "choose the photo first");
    if (!$("receive-passphrase").value) return showError("receive-error", "the passphrase is empty");
    const form = new FormData();
    form.append("stego", stegoFile, stegoFile.name);
    form.append("passphrase", $("receive-passphrase").value);
    $("reveal").disabled = true;
    $("receive-progress").hidden = false;
    try {
      const response = await fetch("/api/reveal", { method: "POST", body: form });
      if (!response.ok) throw new Error(await errorLine(response));
      const blob = await response.blob();
      const url = setUrl("speech", blob);
      $("revealed").src = url;
      const link = $("speech-download");
      link.href = url;
      link.download = stegoFile.name.replace(/\.[^.]*$/, "") + ".wav";
      $("speech-summary").textContent =
        `Hidden as ${response.headers.get("x-stegavox-codec")} by the ${response.headers.get("x-stegavox-method")} hider; ` +
        `${response.headers.get("x-stegavox-corrected")} bit errors corrected. The speech is exactly what was sent.`;
      $("receive-result").hidden = false;
    } catch (error) {
      showError("receive-error", error.message);
    } finally {
      $("receive-progress").hidden = true;
      $("reveal").disabled = false;
    }
  });

  // ---------- start ----------
  async function start() {
    showTab();
    try {
      const response = await fetch("/api/platforms");
      const body = await response.json();
      state.platforms = body.platforms;
      const select = $("platform");
      for (const platform of body.platforms) {
        const option = document.createElement("option");
        option.value = platform.name;
        option.textContent = platform.label;
        select.append(option);
      }
      select.value = body.default;
      platformChanged();
    } catch (e) {
      showError("send-error", "the server did not answer: is stegavox serve still running?");
    }
    document.body.dataset.ready = "1";
  }
  start();
})();
