/** The development certificates' revocation list, made with the real openssl CLI. */
import { afterAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureDevCerts, issueClient, revokeClient } from "./certs.ts";

const dir = mkdtempSync(join(tmpdir(), "xplicit-certs-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What nginx's check says of a client certificate: openssl verify against the CA and its list. */
function verify(p: ReturnType<typeof ensureDevCerts>, cert: string): string {
  const r = spawnSync("openssl", ["verify", "-crl_check", "-CAfile", p.caCert, "-CRLfile", p.crl, cert], { encoding: "utf8" });
  return r.status === 0 ? "ok" : /revoked/.test(r.stdout + r.stderr) ? "revoked" : "failed";
}

test("a revoked client certificate fails the check, the others pass; a CA made again gets a list of its own", () => {
  const p = ensureDevCerts({ dir });
  const kept = issueClient(p, "kept");
  const gone = issueClient(p, "gone");
  expect([verify(p, kept.cert), verify(p, gone.cert)]).toEqual(["ok", "ok"]);
  revokeClient(p, "gone");
  expect([verify(p, kept.cert), verify(p, gone.cert)]).toEqual(["ok", "revoked"]);
  // running it again keeps the list
  ensureDevCerts({ dir });
  expect(verify(p, gone.cert)).toBe("revoked");
  // `client <name>` again: a new certificate, and the one it replaces is revoked
  const before = join(dir, "kept-before.crt");
  copyFileSync(kept.cert, before);
  const cli = spawnSync(process.execPath, [join(import.meta.dir, "certs.ts"), "client", "kept"], { env: { ...process.env, CERTS_DIR: dir }, encoding: "utf8" });
  expect(cli.status).toBe(0);
  expect([verify(p, before), verify(p, kept.cert)]).toEqual(["revoked", "ok"]);
  // the CA's files removed (not --force): a new CA, whose list must be its own or nothing passes
  rmSync(p.caCert);
  rmSync(p.caKey);
  const again = ensureDevCerts({ dir });
  const fresh = issueClient(again, "fresh", { force: true });
  expect(verify(again, fresh.cert)).toBe("ok");
});

test("the compose .env in the working directory does not reach the Bun scripts (bunfig.toml: env = false)", () => {
  // (in a directory of its own, with this repository's bunfig.toml and a .env as compose users have it)
  const probe = mkdtempSync(join(tmpdir(), "xplicit-env-"));
  try {
    copyFileSync(join(import.meta.dir, "..", "bunfig.toml"), join(probe, "bunfig.toml"));
    writeFileSync(join(probe, ".env"), "CERTS_DIR=../certs\nXPLICIT_ENV_PROBE=leaked\n");
    writeFileSync(join(probe, "probe.ts"), "console.log(JSON.stringify([process.env.CERTS_DIR ?? null, process.env.XPLICIT_ENV_PROBE ?? null]));\n");
    const { CERTS_DIR: _, XPLICIT_ENV_PROBE: __, ...env } = process.env;
    const r = spawnSync(process.execPath, ["probe.ts"], { cwd: probe, env, encoding: "utf8" });
    expect(r.stdout.trim()).toBe("[null,null]");
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
});
