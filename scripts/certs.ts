/**
 * Development certificates for the nginx edge, made with the openssl CLI:
 *
 *   npm run certs                      CA + server certificate + the "operator" client certificate
 *                                      (kept if present; the server certificate is re-issued when
 *                                      SERVER_NAMES asks for a name it does not cover)
 *   npm run certs -- client <name>     one more client certificate (+ PKCS#12) signed by the dev CA
 *                                      (one that existed under that name is revoked)
 *   npm run certs -- revoke <name>     revokes that client certificate: it goes on crl.pem, which
 *                                      nginx reads when it starts (restart it afterwards)
 *   npm run certs -- --force           throw everything away and start again
 *
 * Output in CERTS_DIR (default ./certs, git-ignored):
 *   ca.crt ca.key                      the development CA (ca.crt is nginx's client CA and what a
 *                                      browser or curl trusts for https://localhost:8443)
 *   crl.pem                            the CA's revocation list (empty until a revoke), nginx's ssl_crl;
 *                                      ca-db/ holds what the CA revoked (openssl ca's database)
 *   server.crt server.key              for localhost, 127.0.0.1, ::1 and every SERVER_NAMES entry
 *   clients/<name>.crt .key .p12       client certificates; the .p12 bundle is for browsers
 *
 * The PKCS#12 password is CERTS_P12_PASSWORD when set; otherwise a random one is generated and
 * written next to the bundle (clients/<name>.p12.password, mode 600).
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { join, resolve } from "node:path";

export interface CertPaths {
  dir: string;
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  /** the CA's certificate revocation list: nginx refuses client certificates named on it */
  crl: string;
  /** openssl ca's database of what this CA revoked */
  caDb: string;
  client(name: string): { cert: string; key: string; p12: string; password: string };
}

export function certPaths(dir = process.env.CERTS_DIR ?? resolve(import.meta.dir, "..", "certs")): CertPaths {
  const d = resolve(dir);
  return {
    dir: d,
    caCert: join(d, "ca.crt"),
    caKey: join(d, "ca.key"),
    serverCert: join(d, "server.crt"),
    serverKey: join(d, "server.key"),
    crl: join(d, "crl.pem"),
    caDb: join(d, "ca-db"),
    client: (name) => ({
      cert: join(d, "clients", `${name}.crt`),
      key: join(d, "clients", `${name}.key`),
      p12: join(d, "clients", `${name}.p12`),
      password: join(d, "clients", `${name}.p12.password`),
    }),
  };
}

function openssl(args: string[], input?: string): string {
  const r = spawnSync("openssl", args, { encoding: "utf8", input });
  if (r.error) {
    throw new Error(`cannot run openssl (${r.error.message}); install it (apt-get install openssl) and try again`);
  }
  if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr.trim()}`);
  return r.stdout;
}

export function hasOpenssl(): boolean {
  return !spawnSync("openssl", ["version"]).error;
}

function writeExt(dir: string, name: string, text: string): string {
  const file = join(dir, `.${name}.ext`);
  writeFileSync(file, text);
  return file;
}

function newKey(file: string): void {
  openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", file]);
  chmodSync(file, 0o600);
}

/** Host names and addresses the server certificate must cover. */
export function serverNames(env: Record<string, string | undefined> = process.env): string[] {
  const extra = (env.SERVER_NAMES ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  return [...new Set(["localhost", "127.0.0.1", "::1", ...extra])];
}

function coveredNames(certFile: string): Set<string> {
  const text = openssl(["x509", "-in", certFile, "-noout", "-ext", "subjectAltName"]);
  const names = new Set<string>();
  for (const m of text.matchAll(/(DNS|IP Address):([^,\s]+)/g)) {
    // openssl prints ::1 as 0:0:0:0:0:0:0:1
    names.add(m[2] === "0:0:0:0:0:0:0:1" ? "::1" : m[2]!);
  }
  return names;
}

function ensureCa(p: CertPaths, log: (s: string) => void): void {
  if (existsSync(p.caCert) && existsSync(p.caKey)) return;
  newKey(p.caKey);
  // A config of our own, so the system openssl.cnf adds nothing unexpected.
  const cnf = writeExt(p.dir, "ca", [
    "[req]",
    "distinguished_name=dn",
    "x509_extensions=v3",
    "[dn]",
    "[v3]",
    "basicConstraints=critical,CA:TRUE,pathlen:0",
    "keyUsage=critical,keyCertSign,cRLSign",
    "subjectKeyIdentifier=hash",
  ].join("\n") + "\n");
  try {
    openssl(["req", "-new", "-x509", "-config", cnf, "-key", p.caKey, "-out", p.caCert, "-days", "3650", "-sha256",
      "-subj", "/O=Xplicit development/CN=Xplicit Dev CA"]);
  } finally {
    rmSync(cnf, { force: true });
  }
  log(`created the development CA: ${p.caCert}`);
}

function sign(p: CertPaths, csrFile: string, out: string, ext: string, days: number): void {
  const extFile = writeExt(p.dir, "leaf", ext);
  try {
    openssl(["x509", "-req", "-in", csrFile, "-CA", p.caCert, "-CAkey", p.caKey, "-CAcreateserial", "-out", out,
      "-days", String(days), "-sha256", "-extfile", extFile]);
  } finally {
    rmSync(extFile, { force: true });
    rmSync(csrFile, { force: true });
  }
}

function ensureServer(p: CertPaths, names: string[], log: (s: string) => void): void {
  if (existsSync(p.serverCert) && existsSync(p.serverKey)) {
    const have = coveredNames(p.serverCert);
    if (names.every((n) => have.has(n))) return;
    log(`re-issuing the server certificate to cover: ${names.join(", ")}`);
  }
  newKey(p.serverKey);
  const csr = join(p.dir, ".server.csr");
  openssl(["req", "-new", "-key", p.serverKey, "-out", csr, "-subj", "/O=Xplicit development/CN=localhost"]);
  const san = names.map((n) => (isIP(n) ? `IP:${n}` : `DNS:${n}`)).join(",");
  // 397 days: what browsers accept for a server certificate.
  sign(p, csr, p.serverCert, [
    "basicConstraints=critical,CA:FALSE",
    "keyUsage=critical,digitalSignature,keyEncipherment",
    "extendedKeyUsage=serverAuth",
    `subjectAltName=${san}`,
  ].join("\n"), 397);
  log(`created the server certificate for ${names.join(", ")}: ${p.serverCert}`);
}

/** Issues (or keeps) the client certificate `name`, with a PKCS#12 bundle for browsers. */
export function issueClient(p: CertPaths, name: string, opts: { force?: boolean; log?: (s: string) => void } = {}): ReturnType<CertPaths["client"]> {
  const log = opts.log ?? (() => {});
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)) throw new Error(`client name must be letters, digits, . _ - (got "${name}")`);
  const c = p.client(name);
  if (!opts.force && existsSync(c.cert) && existsSync(c.key) && existsSync(c.p12)) return c;
  mkdirSync(join(p.dir, "clients"), { recursive: true, mode: 0o700 });
  newKey(c.key);
  const csr = join(p.dir, `.client-${name}.csr`);
  openssl(["req", "-new", "-key", c.key, "-out", csr, "-subj", `/O=Xplicit operators/CN=${name}`]);
  sign(p, csr, c.cert, [
    "basicConstraints=critical,CA:FALSE",
    "keyUsage=critical,digitalSignature",
    "extendedKeyUsage=clientAuth",
  ].join("\n"), 825);
  const password = process.env.CERTS_P12_PASSWORD || randomBytes(12).toString("base64url");
  openssl(["pkcs12", "-export", "-in", c.cert, "-inkey", c.key, "-certfile", p.caCert, "-name", `Xplicit operator ${name}`,
    "-out", c.p12, "-passout", "stdin"], `${password}\n`);
  chmodSync(c.p12, 0o600);
  if (!process.env.CERTS_P12_PASSWORD) {
    writeFileSync(c.password, `${password}\n`, { mode: 0o600 });
    log(`created client certificate "${name}": ${c.cert}, PKCS#12 ${c.p12} (password in ${c.password})`);
  } else {
    rmSync(c.password, { force: true });
    log(`created client certificate "${name}": ${c.cert}, PKCS#12 ${c.p12} (password from CERTS_P12_PASSWORD)`);
  }
  return c;
}

/**
 * `openssl ca`'s configuration for revocations: the dev CA signs its certificates with `x509 -req`,
 * so its database holds only what it revoked. The list is valid for as long as the CA: an expired
 * one would make nginx refuse every client certificate.
 */
function withCaConfig<T>(p: CertPaths, run: (cnf: string) => T): T {
  mkdirSync(p.caDb, { recursive: true, mode: 0o700 });
  const index = join(p.caDb, "index.txt");
  if (!existsSync(index)) writeFileSync(index, "");
  const crlNumber = join(p.caDb, "crlnumber");
  if (!existsSync(crlNumber)) writeFileSync(crlNumber, "1000\n");
  const cnf = writeExt(p.dir, "ca-db", [
    "[ca]",
    "default_ca=dev",
    "[dev]",
    `database=${index}`,
    `crlnumber=${crlNumber}`,
    `certificate=${p.caCert}`,
    `private_key=${p.caKey}`,
    "default_md=sha256",
    "default_crl_days=3650",
    "unique_subject=no",
  ].join("\n") + "\n");
  try {
    return run(cnf);
  } finally {
    rmSync(cnf, { force: true });
  }
}

function writeCrl(p: CertPaths): void {
  withCaConfig(p, (cnf) => openssl(["ca", "-batch", "-config", cnf, "-gencrl", "-out", p.crl]));
}

/** Whether the list on disk was signed by the CA on disk (a CA made again keeps no old list). */
function crlMatchesCa(p: CertPaths): boolean {
  // (openssl crl exits 0 either way: its verdict is in what it prints)
  const r = spawnSync("openssl", ["crl", "-in", p.crl, "-CAfile", p.caCert, "-noout", "-verify"], { encoding: "utf8" });
  return /verify OK/.test(`${r.stdout}${r.stderr}`);
}

/**
 * The revocation list nginx needs; an empty one for a new CA. A list left from an earlier CA
 * (ca.crt or ca.key removed without --force) would make nginx refuse every client certificate:
 * it is made again, with a new database.
 */
function ensureCrl(p: CertPaths, log: (s: string) => void): void {
  if (existsSync(p.crl) && crlMatchesCa(p)) return;
  if (existsSync(p.crl)) {
    rmSync(p.caDb, { recursive: true, force: true });
    log("the revocation list was another CA's: made again for this one");
  }
  writeCrl(p);
  log(`created the revocation list: ${p.crl}`);
}

/** Puts client certificate `name` on the revocation list (nginx reads it when it starts). */
export function revokeClient(p: CertPaths, name: string, log: (s: string) => void = () => {}): void {
  const c = p.client(name);
  if (!existsSync(c.cert)) throw new Error(`no client certificate "${name}" in ${join(p.dir, "clients")}`);
  withCaConfig(p, (cnf) => openssl(["ca", "-batch", "-config", cnf, "-revoke", c.cert]));
  writeCrl(p);
  log(`revoked client certificate "${name}"; restart nginx so that it reads ${p.crl}`);
}

/** CA, server certificate and the operator client certificate; keeps what already exists. */
export function ensureDevCerts(opts: { dir?: string; names?: string[]; log?: (s: string) => void } = {}): CertPaths {
  const log = opts.log ?? (() => {});
  const p = certPaths(opts.dir);
  mkdirSync(p.dir, { recursive: true, mode: 0o700 });
  ensureCa(p, log);
  ensureServer(p, opts.names ?? serverNames(), log);
  ensureCrl(p, log);
  issueClient(p, "operator", { log });
  return p;
}

/** True when nginx has everything it reads from the certificate folder. */
export function devCertsPresent(dir?: string): boolean {
  const p = certPaths(dir);
  return [p.caCert, p.serverCert, p.serverKey, p.crl].every((f) => existsSync(f));
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const log = (s: string) => console.log(`[certs] ${s}`);
  try {
    const p = certPaths();
    if (args.includes("--force")) {
      rmSync(p.dir, { recursive: true, force: true });
      log(`removed ${p.dir}`);
    }
    const rest = args.filter((a) => a !== "--force");
    if (rest[0] === "client") {
      const name = rest[1];
      if (!name) throw new Error("usage: npm run certs -- client <name>");
      ensureDevCerts({ log });
      // the certificate it replaces stops working too (it may be on a lost laptop)
      if (existsSync(p.client(name).cert)) revokeClient(p, name, log);
      issueClient(p, name, { force: true, log });
    } else if (rest[0] === "revoke") {
      const name = rest[1];
      if (!name) throw new Error("usage: npm run certs -- revoke <name>");
      revokeClient(p, name, log);
    } else if (rest.length) {
      throw new Error(`unknown arguments: ${rest.join(" ")}\nusage: npm run certs [-- --force] | npm run certs -- client <name> | npm run certs -- revoke <name>`);
    } else {
      ensureDevCerts({ log });
      log(`ready in ${p.dir}. Trust ${p.caCert} in your browser (or curl --cacert) for https://localhost:8443;`);
      log(`import ${p.client("operator").p12} to reach /status, /metrics and /api/admin/.`);
    }
  } catch (err) {
    console.error(`[certs] ${(err as Error).message}`);
    process.exit(1);
  }
}
