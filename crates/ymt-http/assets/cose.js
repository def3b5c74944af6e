// Offline verification of YMT1: codes in the browser, mirroring
// ymt_token::verify step by step: prefix, base45, inflate (zlib), COSE_Sign1
// structure, kid lookup in the trust list, signature (WebCrypto Ed25519 or
// ES256), claims, validity window. The small CBOR decoder below is the only
// hand-written parser; every length is bounded and every failure is a
// named error, never an exception escaping to the page.
"use strict";
const YmtCose = (() => {
  const PREFIX = "YMT1:";
  const TEXT_CHARS_MAX = 4296;
  const INFLATED_BYTES_MAX = 64 * 1024;
  const CLAIMS_MAX = 32;
  const LEEWAY_SECS = 30;
  // As ymt_token::trust: the longest code lifetime when the list does not
  // say, and the largest a list may declare.
  const LIFETIME_SECS_MAX_DEFAULT = 3600;
  const LIFETIME_SECS_MAX_LIMIT = 86400;
  // A printed code (kind claim -70006 = 1): the longest lifetime a list
  // may declare for it (seven days); a list that does not declare one
  // holds printed codes to the phone codes' limit.
  const PRINTED_LIFETIME_SECS_MAX_LIMIT = 7 * 86400;
  const KINDS = ["phone", "printed"];
  const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
  const STEPS = ["prefix", "base45", "inflate", "cose_structure", "kid_lookup", "signature", "claims", "validity_window"];

  class Failure extends Error {
    constructor(code, detail) { super(detail || code); this.code = code; }
  }

  function base45Decode(text) {
    const out = [];
    for (let i = 0; i < text.length; i += 3) {
      const chunk = text.slice(i, i + 3);
      const values = Array.from(chunk, (c) => ALPHABET.indexOf(c));
      if (values.some((v) => v < 0)) throw new Failure("bad_base45", `character at ${i}`);
      if (chunk.length === 1) throw new Failure("bad_base45", "dangling character");
      const n = values[0] + values[1] * 45 + (values.length === 3 ? values[2] * 2025 : 0);
      if (values.length === 3) {
        if (n > 0xffff) throw new Failure("bad_base45", `chunk at ${i}`);
        out.push(n >> 8, n & 0xff);
      } else {
        if (n > 0xff) throw new Failure("bad_base45", `chunk at ${i}`);
        out.push(n);
      }
    }
    return new Uint8Array(out);
  }

  async function inflate(bytes) {
    try {
      const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
      const reader = stream.getReader();
      const parts = [];
      let total = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        total += value.length;
        if (total > INFLATED_BYTES_MAX) { await reader.cancel(); throw new Failure("inflate_failed", "too large"); }
        parts.push(value);
      }
      const out = new Uint8Array(total);
      let offset = 0;
      for (const part of parts) { out.set(part, offset); offset += part.length; }
      return out;
    } catch (error) {
      if (error instanceof Failure) throw error;
      throw new Failure("inflate_failed", String(error.message || error));
    }
  }

  // Minimal CBOR (RFC 8949) decoder: definite lengths only, depth-bounded.
  // Maps become JS Maps so integer keys keep their type.
  class Tagged { constructor(tag, value) { this.tag = tag; this.value = value; } }
  function cborDecode(bytes, errorCode) {
    let pos = 0;
    const fail = (detail) => { throw new Failure(errorCode, `${detail} at byte ${pos}`); };
    const need = (n) => { if (pos + n > bytes.length) fail("truncated"); };
    function arg(info) {
      if (info < 24) return info;
      const size = { 24: 1, 25: 2, 26: 4, 27: 8 }[info];
      if (!size) fail("unsupported length");
      need(size);
      let value = 0n;
      for (let i = 0; i < size; i++) value = (value << 8n) | BigInt(bytes[pos++]);
      if (value > BigInt(Number.MAX_SAFE_INTEGER)) fail("integer too large");
      return Number(value);
    }
    function item(depth) {
      if (depth > 16) fail("nested too deep");
      need(1);
      const initial = bytes[pos++];
      const major = initial >> 5;
      const info = initial & 31;
      if (major === 7) {
        if (info === 20) return false;
        if (info === 21) return true;
        if (info === 22) return null;
        fail("unsupported simple value");
      }
      const n = arg(info);
      switch (major) {
        case 0: return n;
        case 1: return -1 - n;
        case 2: need(n); pos += n; return bytes.slice(pos - n, pos);
        case 3: {
          need(n); pos += n;
          try { return new TextDecoder("utf-8", { fatal: true }).decode(bytes.slice(pos - n, pos)); }
          catch { fail("invalid UTF-8"); }
          break;
        }
        case 4: {
          if (n > 1024) fail("array too long");
          const out = [];
          for (let i = 0; i < n; i++) out.push(item(depth + 1));
          return out;
        }
        case 5: {
          if (n > 1024) fail("map too long");
          const out = new Map();
          for (let i = 0; i < n; i++) {
            const key = item(depth + 1);
            if (out.has(key)) fail("duplicate key");
            out.set(key, item(depth + 1));
          }
          return out;
        }
        case 6: return new Tagged(n, item(depth + 1));
      }
      fail("unknown major type");
    }
    const value = item(0);
    if (pos !== bytes.length) fail("trailing bytes");
    return value;
  }

  function bstrHeader(length) {
    if (length < 24) return [0x40 | length];
    if (length < 256) return [0x58, length];
    if (length < 65536) return [0x59, length >> 8, length & 0xff];
    return [0x5a, (length >>> 24) & 0xff, (length >> 16) & 0xff, (length >> 8) & 0xff, length & 0xff];
  }
  function sigStructure(protectedBytes, payload) {
    const context = new TextEncoder().encode("Signature1");
    const parts = [[0x84], [0x60 | context.length], context, bstrHeader(protectedBytes.length), protectedBytes, [0x40], bstrHeader(payload.length), payload];
    const total = parts.reduce((sum, part) => sum + part.length, 0);
    const out = new Uint8Array(total);
    let offset = 0;
    for (const part of parts) { out.set(part, offset); offset += part.length; }
    return out;
  }

  const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  function base64url(text) {
    const normal = text.replace(/-/g, "+").replace(/_/g, "/");
    const padded = normal + "=".repeat((4 - (normal.length % 4)) % 4);
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  }

  async function verifySignature(algorithm, publicKey, signature, message) {
    if (algorithm === "EdDSA") {
      const key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
      return crypto.subtle.verify({ name: "Ed25519" }, key, signature, message);
    }
    if (algorithm === "ES256") {
      const key = await crypto.subtle.importKey("raw", publicKey, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
      return crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, signature, message);
    }
    throw new Failure("unsupported_algorithm", algorithm);
  }

  // Verifies the signed trust list and returns its document. `anchor` is
  // the pinned signer key (base64url) or null on first use.
  async function verifyTrustList(signed, anchor) {
    if (anchor && signed.signer.public_key !== anchor) throw new Error("trust list signer is not the pinned anchor");
    const payload = new TextEncoder().encode(signed.payload);
    const context = new TextEncoder().encode("ymt-trust-list/1\u0000");
    const message = new Uint8Array(context.length + payload.length);
    message.set(context); message.set(payload, context.length);
    const ok = await verifySignature(signed.signer.algorithm, base64url(signed.signer.public_key), base64url(signed.signature), message);
    if (!ok) throw new Error("bad trust-list signature");
    return JSON.parse(signed.payload);
  }

  const ALG = { [-8]: "EdDSA", [-7]: "ES256" };
  const COLORS = ["green", "yellow", "red"];

  // Returns a report shaped like ymt_token::VerificationReport.
  async function verify(token, trustDocument, nowSecs) {
    const report = { valid: false, steps: [], claims: null, error: null, kid: null, algorithm: null };
    let stepIndex = 0;
    const ok = () => { report.steps.push({ step: STEPS[stepIndex++], status: "ok", detail: "" }); };
    try {
      token = token.trim();
      if (token.length > TEXT_CHARS_MAX) throw new Failure("too_long");
      if (!token.startsWith(PREFIX)) throw new Failure("bad_prefix");
      ok();
      const compressed = base45Decode(token.slice(PREFIX.length)); ok();
      const cose = await inflate(compressed); ok();
      let message = cborDecode(cose, "malformed_cose");
      if (!(message instanceof Tagged) || message.tag !== 18) throw new Failure("malformed_cose", "tag 18 required");
      message = message.value;
      if (!Array.isArray(message) || message.length !== 4 || !(message[0] instanceof Uint8Array) || !(message[2] instanceof Uint8Array) || !(message[3] instanceof Uint8Array))
        throw new Failure("malformed_cose", "COSE_Sign1 is an array of 4");
      const [protectedBytes, , payload, signature] = message;
      const header = cborDecode(protectedBytes, "malformed_cose");
      if (!(header instanceof Map)) throw new Failure("malformed_cose", "protected header");
      const algorithm = ALG[header.get(1)];
      if (!algorithm) throw new Failure("unsupported_algorithm", String(header.get(1)));
      report.algorithm = algorithm;
      ok();
      const kidBytes = header.get(4);
      if (!(kidBytes instanceof Uint8Array)) throw new Failure("missing_kid");
      const kid = hex(kidBytes);
      report.kid = kid;
      const entry = (trustDocument.entries || []).find((e) => e.kid === kid);
      if (!entry) throw new Failure("unknown_kid", kid);
      if (entry.algorithm !== algorithm) throw new Failure("wrong_algorithm");
      // A revoked (compromised) key: every code it signed is refused.
      if (entry.revoked_at) throw new Failure("key_revoked", `revoked at ${entry.revoked_at}`);
      ok();
      let good = false;
      try { good = await verifySignature(algorithm, base64url(entry.public_key), signature, sigStructure(protectedBytes, payload)); }
      catch (error) { if (error instanceof Failure) throw error; throw new Failure("unsupported_algorithm", String(error.message || error)); }
      if (!good) throw new Failure("bad_signature");
      ok();
      const map = cborDecode(payload, "malformed_claims");
      if (!(map instanceof Map) || map.size > CLAIMS_MAX) throw new Failure("malformed_claims");
      const text = (key) => { const v = map.get(key); if (typeof v !== "string" || v.length < 1 || v.length > 64) throw new Failure("malformed_claims", `claim ${key}`); return v; };
      const uint = (key) => { const v = map.get(key); if (typeof v !== "number" || v < 0) throw new Failure("malformed_claims", `claim ${key}`); return v; };
      const claims = {
        issuer: text(1), expires_at: uint(4), issued_at: uint(6), person: text(-70001),
        color: COLORS[uint(-70002)], masked_name: text(-70003), rule_set_version: text(-70004),
        color_valid_until: map.has(-70005) ? uint(-70005) : null,
        // Revision 2: absent on phone codes; an unknown kind is malformed,
        // never guessed.
        kind: map.has(-70006) ? KINDS[uint(-70006)] : "phone",
      };
      if (!claims.kind) throw new Failure("malformed_claims", "kind");
      if (!claims.color) throw new Failure("malformed_claims", "color");
      if (claims.expires_at <= claims.issued_at) throw new Failure("malformed_claims", "exp after iat");
      if (claims.issuer !== entry.issuer) throw new Failure("issuer_mismatch");
      report.claims = claims;
      ok();
      const from = Date.parse(entry.valid_from) / 1000;
      const until = entry.valid_until ? Date.parse(entry.valid_until) / 1000 : Infinity;
      if (nowSecs < from || nowSecs >= until) throw new Failure("key_not_valid_at");
      const declared = trustDocument.max_code_lifetime_secs;
      const phoneMax = Number.isInteger(declared) && declared >= 1 && declared <= LIFETIME_SECS_MAX_LIMIT ? declared : LIFETIME_SECS_MAX_DEFAULT;
      const printed = trustDocument.max_printed_code_lifetime_secs;
      const printedMax = Number.isInteger(printed) && printed >= 1 && printed <= PRINTED_LIFETIME_SECS_MAX_LIMIT ? Math.max(printed, phoneMax) : phoneMax;
      const lifetimeMax = claims.kind === "printed" ? printedMax : phoneMax;
      if (claims.expires_at - claims.issued_at > lifetimeMax)
        throw new Failure("lifetime_too_long", `${claims.expires_at - claims.issued_at} s > ${lifetimeMax} s`);
      if (nowSecs < claims.issued_at - LEEWAY_SECS) throw new Failure("not_yet_valid");
      if (nowSecs >= claims.expires_at) throw new Failure("expired");
      if (claims.color_valid_until !== null && nowSecs >= claims.color_valid_until) throw new Failure("color_expired");
      ok();
      report.valid = true;
    } catch (error) {
      const code = error instanceof Failure ? error.code : "malformed_cose";
      report.error = { code };
      report.steps.push({ step: STEPS[stepIndex++], status: "failed", detail: `${code}: ${error.message}` });
      while (stepIndex < STEPS.length) report.steps.push({ step: STEPS[stepIndex++], status: "skipped", detail: "" });
    }
    return report;
  }

  return { verify, verifyTrustList, base45Decode, cborDecode };
})();
