// RFC 8785 JSON Canonicalization Scheme (docs/spec/credentials.md 1.1): members sorted by UTF-16 code units,
// ECMAScript string escaping and number formatting, no white space. Integers beyond 2^53 (BigInt) are written
// as the nearest double; NaN, infinities, lone surrogates and nesting deeper than 64 have no form (throws).
// No DOM: tests/browser/vectors.mjs imports it.

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function str(s) {
  if (LONE_SURROGATE.test(s)) throw new Error("JCS: a lone surrogate has no form");
  return JSON.stringify(s);
}

function serialize(value, depth) {
  if (depth > 64) throw new Error("JCS: nested deeper than 64");
  if (value === null) return "null";
  if (value === true) return "true";
  if (value === false) return "false";
  if (typeof value === "bigint") return serialize(Number(value), depth);
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new Error("JCS: NaN and infinities have no form");
    return JSON.stringify(value); // ECMAScript Number.prototype.toString; -0 is "0"
  }
  if (typeof value === "string") return str(value);
  if (Array.isArray(value)) return "[" + value.map((v) => serialize(v, depth + 1)).join(",") + "]";
  if (typeof value === "object") {
    const keys = Object.keys(value).sort(); // default sort compares UTF-16 code units, as RFC 8785 3.2.3
    return "{" + keys.map((k) => str(k) + ":" + serialize(value[k], depth + 1)).join(",") + "}";
  }
  throw new Error(`JCS: ${typeof value} has no JSON form`);
}

/** The RFC 8785 canonical form of a JSON value, as a string. */
export function jcs(value) {
  return serialize(value, 0);
}
