// A real OpenID provider for the tests: `oidc-provider` (OpenID Certified)
// on a loopback port, configured by the test that starts it.
//
//   node oidc/provider.mjs CONFIG.json
//
// CONFIG: { "clients": [oidc-provider client metadata…],
//           "accounts": { "<login>": { "<claim>": "<value>", … } },
//           "identity_claims": ["id_number", …]   (released with scope "ymt_identity"),
//           "port": 0 }
// Prints one line `OIDC_READY {"issuer": "http://127.0.0.1:PORT"}` once it
// listens, so the test waits for a signal, not for time. A line `rotate` on
// stdin puts a new signing key first (the old one stays published) and
// answers `OIDC_ROTATED <kid>`: key rotation as a provider does it.
//
// The login page is the provider's own (its development interactions): any
// password, the login names an account of the config. Test use only.
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { generateKeyPairSync, randomUUID } from "node:crypto";
import { createInterface } from "node:readline";
import Provider from "oidc-provider";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const accounts = config.accounts || {};
const identityClaims = config.identity_claims || ["id_number"];

function newSigningKey() {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return { ...privateKey.export({ format: "jwk" }), kid: randomUUID(), use: "sig", alg: "RS256" };
}

let keys = [newSigningKey()];

function buildProvider(issuer) {
  const provider = new Provider(issuer, {
    clients: config.clients,
    jwks: { keys },
    // Every authorization code must come with a PKCE challenge, confidential
    // client or not: a stolen code is useless without its verifier.
    pkce: { required: () => true },
    claims: { openid: ["sub"], profile: ["name"], ymt_identity: identityClaims },
    // The node reads the identity claims from the ID token itself.
    conformIdTokenClaims: false,
    features: {
      devInteractions: { enabled: true },
      rpInitiatedLogout: { enabled: true },
    },
    // A first-party client: no consent page after the login.
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId
        || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope("openid profile ymt_identity");
      await grant.save();
      return grant;
    },
    async findAccount(_ctx, id) {
      if (!Object.hasOwn(accounts, id)) return undefined;
      return { accountId: id, async claims() { return { sub: id, ...accounts[id] }; } };
    },
  });
  provider.on("server_error", (_ctx, error) => console.error("oidc-provider:", error));
  return provider;
}

const server = createServer();
server.listen(config.port || 0, "127.0.0.1", () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  let provider = buildProvider(issuer);
  server.on("request", (req, res) => provider.callback()(req, res));
  const input = createInterface({ input: process.stdin });
  input.on("line", (line) => {
    if (line.trim() === "rotate") {
      keys = [newSigningKey(), ...keys];
      provider = buildProvider(issuer);
      process.stdout.write(`OIDC_ROTATED ${keys[0].kid}\n`);
    }
  });
  // The test ending (stdin closed) ends the provider too.
  input.on("close", () => process.exit(0));
  process.stdout.write(`OIDC_READY ${JSON.stringify({ issuer })}\n`);
});
