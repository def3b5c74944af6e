// Reading a QR code from the camera or an image, on every browser
// (docs/pages.md, "Scanning a code"): BarcodeDetector where the browser has
// it; elsewhere each frame is sent to the node (`POST /v1/qr:decode`, the
// rqrr decoder of `yimatong verify --image`), which reads and drops it.
// The camera runs until the first code, or until stopped. Paste and scanner
// guns do not come here: they work offline on every browser.
"use strict";
const YmtScan = (() => {
  // The node bounds a frame to 1 MiB and 1920 px a side; a frame scaled to
  // 960 px is some 100 KB of JPEG and reads as well.
  const FRAME_SIDE_PX = 960;
  // About four frames a second to the node; BarcodeDetector runs faster.
  const NODE_FRAME_INTERVAL_MS = 250;
  const DETECTOR_INTERVAL_MS = 100;
  // After a 429 or 503 the node is asked again only after this.
  const SHED_BACKOFF_MS = 1000;

  const hasDetector = () => "BarcodeDetector" in window;
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  let detector = null;
  async function detectInBrowser(source) {
    if (!detector) detector = new BarcodeDetector({ formats: ["qr_code"] });
    const codes = await detector.detect(source);
    return codes.length ? codes[0].rawValue : null;
  }

  // Draws a source (a video or an image bitmap) scaled to at most
  // FRAME_SIDE_PX into a canvas and returns it as base64 JPEG.
  async function frameBase64(source, width, height) {
    const scale = Math.min(1, FRAME_SIDE_PX / Math.max(width, height, 1));
    const canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round(width * scale));
    canvas.height = Math.max(1, Math.round(height * scale));
    canvas.getContext("2d").drawImage(source, 0, 0, canvas.width, canvas.height);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.9));
    const bytes = new Uint8Array(await blob.arrayBuffer());
    let binary = "";
    for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    return btoa(binary);
  }

  // The node's reading of one frame: the text, null for none, or an error
  // whose `status` says 429/503 (shed: try later) or 0 (offline).
  async function detectOnNode(source, width, height) {
    const image_base64 = await frameBase64(source, width, height);
    const answer = await YMT.api("/v1/qr:decode", { method: "POST", body: { image_base64 } });
    return answer.text;
  }

  async function readImage(file) {
    const bitmap = await createImageBitmap(file);
    try {
      return hasDetector() ? await detectInBrowser(bitmap) : await detectOnNode(bitmap, bitmap.width, bitmap.height);
    } finally {
      bitmap.close();
    }
  }

  // Runs the camera in `video` until a code is read (resolves with its
  // text) or `stop()` is called (resolves with null). `onStatus` gets a
  // short state: "scanning", "busy" (the node shed a frame), "offline".
  function startCamera(video, onStatus = () => {}) {
    let stopped = false;
    let stream = null;
    const stop = () => {
      stopped = true;
      if (stream) stream.getTracks().forEach((track) => track.stop());
      video.srcObject = null;
      video.hidden = true;
    };
    const done = (async () => {
      try {
        stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
        if (stopped) { stop(); return null; }
        video.srcObject = stream;
        video.hidden = false;
        await video.play();
        onStatus("scanning");
        while (!stopped) {
          if (video.readyState >= 2 && video.videoWidth > 0) {
            try {
              const text = hasDetector()
                ? await detectInBrowser(video)
                : await detectOnNode(video, video.videoWidth, video.videoHeight);
              if (text && !stopped) return text;
              onStatus("scanning");
            } catch (error) {
              if (error.status === 429 || error.status === 503) { onStatus("busy"); await sleep(SHED_BACKOFF_MS); continue; }
              if (!error.status) { onStatus("offline"); await sleep(SHED_BACKOFF_MS); continue; }
              throw error;
            }
          }
          await sleep(hasDetector() ? DETECTOR_INTERVAL_MS : NODE_FRAME_INTERVAL_MS);
        }
        return null;
      } finally {
        stop();
      }
    })();
    return { done, stop };
  }

  // The door's and the camera's words, in the page's language; anything
  // else from the shared dictionary (common.js).
  const WORDS = {
    "zh-CN": {
      forgedOrDamaged: "伪造或损坏的码", notAdmitted: "请勿放行：未登记入场", noCodeInImage: "图片中未找到二维码",
      scan_scanning: "正在扫描……请将二维码对准摄像头", scan_busy: "服务器繁忙，稍后继续扫描",
      scan_offline: "离线：此浏览器需联网才能用摄像头扫码，请粘贴码文本或使用扫码枪",
      startScan: "扫码", stopScan: "停止扫码", cameraFailed: "摄像头不可用", settingsSaved: "设置已保存",
      unregistered: "未登记，请人工核验", colorUntil: "颜色有效至", idCardChecked: "刷身份证核验（联网）",
      scanVenue: "扫场所码登记", venueCheckedIn: "已登记入场", forgedVenue: "场所码无效（伪造或损坏）",
      unknownVenue: "未登记的场所", notVenueCode: "这不是场所码",
    },
    en: {
      forgedOrDamaged: "forged or damaged code", notAdmitted: "Do not admit: entry not registered", noCodeInImage: "No QR code found in the image",
      scan_scanning: "Scanning… hold the QR code in front of the camera", scan_busy: "The node is busy; scanning goes on in a moment",
      scan_offline: "Offline: this browser needs the node to scan with the camera; paste the code text or use a scanner gun",
      startScan: "Scan with camera", stopScan: "Stop scanning", cameraFailed: "Camera unavailable", settingsSaved: "Settings saved",
      unregistered: "Not registered: check manually", colorUntil: "Color valid until", idCardChecked: "ID card checked online",
      scanVenue: "Scan a venue code", venueCheckedIn: "Checked in", forgedVenue: "Invalid venue code (forged or damaged)",
      unknownVenue: "Unknown venue", notVenueCode: "Not a venue code",
    },
  };
  const t = (key) => WORDS[YMT.lang][key] || YMT.t(key);

  return { hasDetector, readImage, startCamera, t };
})();
