// 场所码 self check-in on the citizen page (issue 13): scan a venue's signed
// YMTV1: code with the camera (scan.js, the verifier's decoder), see the
// venue's name, confirm, and be checked in. Self-contained: it asks the
// node who is signed in rather than reading the code view's state.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const t = YmtScan.t;
  let camera = null;
  let scanned = null;
  const say = (text) => { $("venue-result").textContent = text; };

  $("venue-scan").addEventListener("click", async () => {
    if (camera) { camera.stop(); return; }
    $("venue-confirm-row").hidden = true;
    scanned = null;
    say("");
    $("venue-scan").textContent = t("stopScan");
    camera = YmtScan.startCamera($("venue-camera"), (state) => say(t("scan_" + state)));
    let text = null;
    try {
      text = await camera.done;
      say("");
    } catch (error) {
      say(`${t("cameraFailed")}: ${error.message}`);
    }
    camera = null;
    $("venue-scan").textContent = t("scanVenue");
    if (!text) return;
    if (!text.startsWith("YMTV1:")) { say(t("notVenueCode")); return; }
    try {
      const venue = await YMT.api("/v1/venues:scan", { method: "POST", body: { qr: text } });
      scanned = text;
      $("venue-name").textContent = venue.name;
      $("venue-confirm-row").hidden = false;
      $("venue-confirm").focus();
    } catch (error) {
      say(error.status === 422 ? t("forgedVenue") : error.status === 404 ? t("unknownVenue") : error.message);
    }
  });

  $("venue-confirm").addEventListener("click", async () => {
    if (!scanned) return;
    try {
      const session = await YMT.api("/v1/session");
      const result = await YMT.api(`/v1/persons/${encodeURIComponent(session.pid)}/check-ins`, { method: "POST", body: { qr: scanned } });
      say(`${t("venueCheckedIn")}: ${result.venue.name}`);
      $("venue-result").dataset.venue = result.venue.id;
      $("venue-confirm-row").hidden = true;
      scanned = null;
    } catch (error) {
      say(`${t("checkinFailed")}: ${error.message}`);
    }
  });
})();
