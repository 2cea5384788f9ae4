/** `k6/crypto`, the part the scripts use. */
export function randomBytes(n: number): ArrayBuffer {
  return crypto.getRandomValues(new Uint8Array(n)).buffer as ArrayBuffer;
}

export default { randomBytes };
