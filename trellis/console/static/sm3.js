// SM3 (GB/T 32905-2016) and SM2 signature verification (GB/T 32918.2, the recommended curve of GB/T 32918.5)
// in plain JS, for verifying `sm` chains' receipts in the browser. No DOM; checked against
// tests/vectors/sm_suite.json by tests/browser/vectors.mjs.

const IV = [0x7380166f, 0x4914b2b9, 0x172442d7, 0xda8a0600, 0xa96f30bc, 0x163138aa, 0xe38dee4d, 0xb0fb0e4e];

const rotl = (x, n) => ((x << (n & 31)) | (x >>> (32 - (n & 31)))) >>> 0;
const p0 = (x) => (x ^ rotl(x, 9) ^ rotl(x, 17)) >>> 0;
const p1 = (x) => (x ^ rotl(x, 15) ^ rotl(x, 23)) >>> 0;

/** SM3 of a Uint8Array, as a 32-byte Uint8Array. */
export function sm3(data) {
  const len = data.length;
  const total = Math.ceil((len + 9) / 64) * 64;
  const m = new Uint8Array(total);
  m.set(data);
  m[len] = 0x80;
  const bits = BigInt(len) * 8n;
  for (let i = 0; i < 8; i++) m[total - 1 - i] = Number((bits >> BigInt(8 * i)) & 0xffn);
  const v = IV.slice();
  const w = new Uint32Array(68);
  const w1 = new Uint32Array(64);
  for (let off = 0; off < total; off += 64) {
    for (let j = 0; j < 16; j++) {
      const k = off + 4 * j;
      w[j] = ((m[k] << 24) | (m[k + 1] << 16) | (m[k + 2] << 8) | m[k + 3]) >>> 0;
    }
    for (let j = 16; j < 68; j++) {
      w[j] = (p1(w[j - 16] ^ w[j - 9] ^ rotl(w[j - 3], 15)) ^ rotl(w[j - 13], 7) ^ w[j - 6]) >>> 0;
    }
    for (let j = 0; j < 64; j++) w1[j] = (w[j] ^ w[j + 4]) >>> 0;
    let [a, b, c, d, e, f, g, h] = v;
    for (let j = 0; j < 64; j++) {
      const t = j < 16 ? 0x79cc4519 : 0x7a879d8a;
      const ss1 = rotl((rotl(a, 12) + e + rotl(t, j)) >>> 0, 7);
      const ss2 = (ss1 ^ rotl(a, 12)) >>> 0;
      const ff = j < 16 ? a ^ b ^ c : (a & b) | (a & c) | (b & c);
      const gg = j < 16 ? e ^ f ^ g : (e & f) | (~e & g);
      const tt1 = (ff + d + ss2 + w1[j]) >>> 0;
      const tt2 = (gg + h + ss1 + w[j]) >>> 0;
      d = c;
      c = rotl(b, 9);
      b = a;
      a = tt1;
      h = g;
      g = rotl(f, 19);
      f = e;
      e = p0(tt2);
    }
    const r = [a, b, c, d, e, f, g, h];
    for (let i = 0; i < 8; i++) v[i] = (v[i] ^ r[i]) >>> 0;
  }
  const out = new Uint8Array(32);
  for (let i = 0; i < 8; i++) {
    out[4 * i] = v[i] >>> 24;
    out[4 * i + 1] = (v[i] >>> 16) & 0xff;
    out[4 * i + 2] = (v[i] >>> 8) & 0xff;
    out[4 * i + 3] = v[i] & 0xff;
  }
  return out;
}

// --- SM2 verification (BigInt, Jacobian coordinates) -------------------------------------------------------

const P = 0xfffffffeffffffffffffffffffffffffffffffff00000000ffffffffffffffffn;
const A = 0xfffffffeffffffffffffffffffffffffffffffff00000000fffffffffffffffcn;
const B = 0x28e9fa9e9d9f5e344d5a9e4bcf6509a7f39789f515ab8f92ddbcbd414d940e93n;
const N = 0xfffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54123n;
const GX = 0x32c4ae2c1f1981195f9904466a39c9948fe30bbff2660be1715a4589334c74c7n;
const GY = 0xbc3736a2f4f6779c59bdcee36b692153d0a9877cc62a474002df32e52139f0a0n;

const mod = (x, m = P) => {
  const r = x % m;
  return r < 0n ? r + m : r;
};

function inv(x, m = P) {
  let [a, b, u, v] = [mod(x, m), m, 1n, 0n];
  while (a !== 0n) {
    const q = b / a;
    [a, b] = [b - q * a, a];
    [u, v] = [v - q * u, u];
  }
  if (b !== 1n) throw new Error("not invertible");
  return mod(v, m);
}

// Points in Jacobian coordinates [X, Y, Z]; Z = 0n is the point at infinity.
const INF = [1n, 1n, 0n];

function jdouble([x, y, z]) {
  if (z === 0n || y === 0n) return INF;
  const yy = mod(y * y);
  const s = mod(4n * x * yy);
  const zz = mod(z * z);
  const m = mod(3n * x * x + A * zz * zz);
  const x3 = mod(m * m - 2n * s);
  const y3 = mod(m * (s - x3) - 8n * yy * yy);
  const z3 = mod(2n * y * z);
  return [x3, y3, z3];
}

function jadd(p, q) {
  if (p[2] === 0n) return q;
  if (q[2] === 0n) return p;
  const z1z1 = mod(p[2] * p[2]);
  const z2z2 = mod(q[2] * q[2]);
  const u1 = mod(p[0] * z2z2);
  const u2 = mod(q[0] * z1z1);
  const s1 = mod(p[1] * q[2] * z2z2);
  const s2 = mod(q[1] * p[2] * z1z1);
  if (u1 === u2) return s1 === s2 ? jdouble(p) : INF;
  const h = mod(u2 - u1);
  const r = mod(s2 - s1);
  const hh = mod(h * h);
  const hhh = mod(h * hh);
  const v = mod(u1 * hh);
  const x3 = mod(r * r - hhh - 2n * v);
  const y3 = mod(r * (v - x3) - s1 * hhh);
  const z3 = mod(h * p[2] * q[2]);
  return [x3, y3, z3];
}

function jmul(k, p) {
  let out = INF;
  let q = p;
  while (k > 0n) {
    if (k & 1n) out = jadd(out, q);
    q = jdouble(q);
    k >>= 1n;
  }
  return out;
}

function affineX([x, , z]) {
  if (z === 0n) return null;
  const zi = inv(z);
  return mod(x * zi * zi);
}

const toBig = (bytes) => {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  return n;
};
const be32 = (n) => {
  const out = new Uint8Array(32);
  for (let i = 31; i >= 0; i--) {
    out[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return out;
};

const concat = (...parts) => {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};

export const SM2_USER_ID = new TextEncoder().encode("1234567812345678");

/** Z_A of GB/T 32918.2 for an uncompressed public key (65 bytes, 04 || x || y) and the standard user id. */
export function sm2Za(publicKey, userId = SM2_USER_ID) {
  const entl = userId.length * 8;
  return sm3(
    concat(new Uint8Array([entl >> 8, entl & 0xff]), userId, be32(A), be32(B), be32(GX), be32(GY), publicKey.subarray(1)),
  );
}

/** GB/T 32918.2 verification of a 64-byte r || s over `message` with the standard user id. */
export function sm2Verify(publicKey, message, signature) {
  if (publicKey.length !== 65 || publicKey[0] !== 4 || signature.length !== 64) return false;
  const qx = toBig(publicKey.subarray(1, 33));
  const qy = toBig(publicKey.subarray(33));
  if (qx >= P || qy >= P || mod(qy * qy - (qx * qx * qx + A * qx + B)) !== 0n) return false;
  const r = toBig(signature.subarray(0, 32));
  const s = toBig(signature.subarray(32));
  if (!(r > 0n && r < N && s > 0n && s < N)) return false;
  const t = mod(r + s, N);
  if (t === 0n) return false;
  const e = toBig(sm3(concat(sm2Za(publicKey), message)));
  const point = jadd(jmul(s, [GX, GY, 1n]), jmul(t, [qx, qy, 1n]));
  const x = affineX(point);
  return x !== null && mod(e + x, N) === r;
}
