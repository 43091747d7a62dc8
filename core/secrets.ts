/**
 * Tokens and API keys: random, at least 256 bits, shown once and stored only as SHA-256.
 * Uses Web Crypto, present in Node 20 and every function runtime, so core stays free of node:crypto.
 */

function base64url(bytes: Uint8Array): string {
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** A new secret: `prefix` + 256 random bits, URL-safe (it travels in webhook URL paths). */
export function newSecret(prefix: string): string {
  const bytes = new Uint8Array(32);
  globalThis.crypto.getRandomValues(bytes);
  return `${prefix}${base64url(bytes)}`;
}

/** Lower-case hex SHA-256 of a secret, the only form in which secrets are stored. */
export async function hashSecret(secret: string): Promise<string> {
  const digest = await globalThis.crypto.subtle.digest('SHA-256', new TextEncoder().encode(secret));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** A new random id (UUID v4). */
export function newId(): string {
  return globalThis.crypto.randomUUID();
}
