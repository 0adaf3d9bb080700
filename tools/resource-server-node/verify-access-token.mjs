// Verify a forcegate access token in a Node service, with jose and the forcegate service's JWKS.
// This is the example of docs/resource-servers.md, run as is by tests/resource/test_resource_node.py.
//
// Library use:
//   import { accessTokenVerifier } from "./verify-access-token.mjs";
//   const verify = accessTokenVerifier({ issuer: "https://auth.example.com" });
//   const claims = await verify(token, ["orders:read"]);    // throws when the token is refused
//
// Command line (prints the claims as JSON, or the error; exit 0 or 1; the token is read from stdin so
// that it never shows in a process listing):
//   echo "$TOKEN" | node verify-access-token.mjs --issuer https://auth.example.com [--audience URL] [--scope S]...

import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";
import { createRemoteJWKSet, errors, jwtVerify } from "jose";

export class InsufficientScope extends Error {
  code = "ERR_INSUFFICIENT_SCOPE";
}

export function accessTokenVerifier({ issuer, audience = issuer, jwksUrl = `${issuer}/.well-known/jwks.json` }) {
  // Fetched on first use, cached, refetched (at most every 30 s) when a token names an unknown kid.
  const jwks = createRemoteJWKSet(new URL(jwksUrl), { timeoutDuration: 5000 });

  return async function verify(token, requiredScopes = []) {
    const { payload } = await jwtVerify(token, jwks, {
      algorithms: ["ES256"], // pinned here, never read from the token
      typ: "at+jwt", // RFC 9068: an access token, not an ID token or an Apex assertion
      issuer, // the service's public URL
      audience, // forcegate issues its tokens for its own public URL
      requiredClaims: ["exp", "iat", "sub", "jti", "client_id", "org_id"],
      clockTolerance: 60, // seconds of skew, as forcegate allows
    });
    const granted = new Set(typeof payload.scope === "string" ? payload.scope.split(" ") : []);
    const missing = requiredScopes.filter((scope) => !granted.has(scope));
    if (missing.length > 0) {
      throw new InsufficientScope(`missing scope(s): ${missing.join(" ")}`); // answer 403 insufficient_scope
    }
    return payload; // org_id, user_id, username, instance_url, params, scope, src …
  };
}

async function main() {
  const { values } = parseArgs({
    options: {
      issuer: { type: "string" },
      audience: { type: "string" },
      scope: { type: "string", multiple: true, default: [] },
    },
  });
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const token = Buffer.concat(chunks).toString("ascii").trim();
  const verify = accessTokenVerifier({ issuer: values.issuer, audience: values.audience ?? values.issuer });
  try {
    const claims = await verify(token, values.scope);
    process.stdout.write(JSON.stringify({ ok: true, claims }) + "\n");
  } catch (error) {
    if (!(error instanceof errors.JOSEError) && !(error instanceof InsufficientScope)) throw error;
    // Answer 401 with WWW-Authenticate: Bearer error="invalid_token" (403 for InsufficientScope).
    process.stdout.write(JSON.stringify({ ok: false, code: error.code, message: error.message }) + "\n");
    process.exitCode = 1;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
