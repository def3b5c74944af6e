// Service worker of the citizen and verifier pages: network first, the cached copy when
// the node cannot be reached, so a reload offline still shows the page and
// the last code kept in localStorage. API calls are never cached.
"use strict";
const CACHE = "ymt-pages-v2";
const PRECACHE = ["/", "/?lang=zh-CN", "/?lang=en", "/citizen", "/citizen?lang=en",
  "/assets/app.css", "/assets/common.js", "/assets/citizen.js",
  // The verifier page registers this worker too, so a door device that has
  // only ever opened /verify loads it offline (issue 13).
  "/verify", "/verify?lang=zh-CN", "/verify?lang=en", "/assets/cose.js", "/assets/scan.js", "/assets/verify.js", "/assets/venue-checkin.js"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(PRECACHE)).then(() => self.skipWaiting()));
});
self.addEventListener("activate", (event) => {
  // The previous version's cache goes; this one holds the verifier too.
  event.waitUntil(caches.keys()
    .then((names) => Promise.all(names.filter((name) => name !== CACHE).map((name) => caches.delete(name))))
    .then(() => self.clients.claim()));
});
self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin || url.pathname.startsWith("/v1/")) return;
  event.respondWith((async () => {
    try {
      const response = await fetch(event.request);
      if (response.ok) (await caches.open(CACHE)).put(event.request, response.clone());
      return response;
    } catch (error) {
      const cached = await caches.match(event.request) || await caches.match(event.request, { ignoreSearch: true });
      if (cached) return cached;
      throw error;
    }
  })());
});
