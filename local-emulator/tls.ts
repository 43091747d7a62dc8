/**
 * A private CA and a server certificate, generated once into the data dir. The CA bundle is
 * what a real cluster's webhook configuration needs (`clientConfig.caBundle`).
 */
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import forge from 'node-forge';

export interface TlsMaterial {
  caPem: string;
  certPem: string;
  keyPem: string;
  caPath: string;
}

const DAY_MS = 86_400_000;

function newKey(): { pem: string; forgeKey: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey } {
  // Node's generator is native and fast; forge only signs.
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const forgeKey = forge.pki.privateKeyFromPem(pem);
  return { pem, forgeKey, publicKey: forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e) };
}

function serial(): string {
  // Positive, 16 random bytes.
  return `01${forge.util.bytesToHex(forge.random.getBytesSync(15))}`;
}

function createCa(): { certPem: string; keyPem: string } {
  const key = newKey();
  const cert = forge.pki.createCertificate();
  cert.publicKey = key.publicKey;
  cert.serialNumber = serial();
  cert.validity.notBefore = new Date(Date.now() - DAY_MS);
  cert.validity.notAfter = new Date(Date.now() + 3650 * DAY_MS);
  const subject = [
    { name: 'commonName', value: 'Portcullis local CA' },
    { name: 'organizationName', value: 'Portcullis' },
  ];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(key.forgeKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: key.pem };
}

function createServerCert(
  caCertPem: string,
  caKeyPem: string,
  names: string[],
): { certPem: string; keyPem: string } {
  const ca = forge.pki.certificateFromPem(caCertPem);
  const caKey = forge.pki.privateKeyFromPem(caKeyPem);
  const key = newKey();
  const cert = forge.pki.createCertificate();
  cert.publicKey = key.publicKey;
  cert.serialNumber = serial();
  cert.validity.notBefore = new Date(Date.now() - DAY_MS);
  cert.validity.notAfter = new Date(Date.now() + 397 * DAY_MS);
  cert.setSubject([{ name: 'commonName', value: names[0] ?? 'localhost' }]);
  cert.setIssuer(ca.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: names.map((n) => (isIP(n) ? { type: 7, ip: n } : { type: 2, value: n })),
    },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: key.pem };
}

/** True when the certificate covers every name and is valid for at least 30 more days. */
function stillGood(certPem: string, names: string[]): boolean {
  const cert = new X509Certificate(certPem);
  if (Date.parse(cert.validTo) - Date.now() < 30 * DAY_MS) return false;
  return names.every((n) => (isIP(n) ? cert.checkIP(n) !== undefined : cert.checkHost(n) !== undefined));
}

/** Loads the CA and server certificate from `dir`, creating or renewing what is missing. */
export function ensureTls(dir: string, names: string[]): TlsMaterial {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = (name: string) => join(dir, name);
  if (!existsSync(file('ca.pem')) || !existsSync(file('ca-key.pem'))) {
    const ca = createCa();
    writeFileSync(file('ca-key.pem'), ca.keyPem, { mode: 0o600 });
    writeFileSync(file('ca.pem'), ca.certPem);
  }
  const caPem = readFileSync(file('ca.pem'), 'utf8');
  const haveServer = existsSync(file('server.pem')) && existsSync(file('server-key.pem'));
  if (!haveServer || !stillGood(readFileSync(file('server.pem'), 'utf8'), names)) {
    const server = createServerCert(caPem, readFileSync(file('ca-key.pem'), 'utf8'), names);
    writeFileSync(file('server-key.pem'), server.keyPem, { mode: 0o600 });
    writeFileSync(file('server.pem'), server.certPem);
  }
  return {
    caPem,
    certPem: readFileSync(file('server.pem'), 'utf8'),
    keyPem: readFileSync(file('server-key.pem'), 'utf8'),
    caPath: file('ca.pem'),
  };
}
