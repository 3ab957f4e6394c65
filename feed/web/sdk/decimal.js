/**
 * Exact decimal handling for the feed's price and size strings. A decimal is an integer coefficient
 * (BigInt) and a scale (fractional digits, 0..18); nothing is ever rounded.
 */
/** MAX_SCALE is the most fractional digits a feed decimal may carry. */
export const MAX_SCALE = 18;
const INT64_MAX = (1n << 63n) - 1n;
const INT64_MIN_ABS = 1n << 63n;
const PATTERN = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;
/** DecimalError is thrown for a string that is not a decimal (`not_decimal`) or does not fit (`overflow`). */
export class DecimalError extends Error {
    code;
    input;
    constructor(code, input) {
        super(`${code === "overflow" ? "decimal out of range" : "not a decimal"}: ${JSON.stringify(input)}`);
        this.name = "DecimalError";
        this.code = code;
        this.input = input;
    }
}
/** parseDecimal parses a decimal string (signs, leading zeros, exponents, ".5" accepted) exactly. */
export function parseDecimal(s) {
    const m = PATTERN.exec(s);
    if (m === null)
        throw new DecimalError("not_decimal", s);
    const sign = m[1] ?? "";
    const intPart = m[2] ?? "";
    const frac = m[3] ?? "";
    const exp = m[4];
    if (intPart === "" && frac === "")
        throw new DecimalError("not_decimal", s);
    if (exp !== undefined && exp.replace(/^[+-]/, "").length > 6)
        throw new DecimalError("overflow", s);
    const e = exp === undefined ? 0 : Number(exp);
    let digits = intPart + frac;
    let scale = frac.length - e;
    // Drop trailing zeros of the fraction: they never count against the scale.
    while (scale > 0 && digits.endsWith("0")) {
        digits = digits.slice(0, -1);
        scale--;
    }
    if (scale < 0) {
        if (/[1-9]/.test(digits) && -scale > 19)
            throw new DecimalError("overflow", s);
        digits += "0".repeat(Math.min(-scale, 20));
        scale = 0;
    }
    digits = digits.replace(/^0+/, "");
    if (digits === "")
        return { coef: 0n, scale: 0 };
    if (scale > MAX_SCALE || digits.length > 19)
        throw new DecimalError("overflow", s);
    let coef = BigInt(digits);
    if (sign === "-") {
        if (coef > INT64_MIN_ABS)
            throw new DecimalError("overflow", s);
        coef = -coef;
    }
    else if (coef > INT64_MAX) {
        throw new DecimalError("overflow", s);
    }
    return { coef, scale };
}
/** formatDecimal writes d in canonical form: no exponent, no trailing fractional zeros, no "+", "-0" is "0". */
export function formatDecimal(d) {
    let coef = d.coef;
    let scale = d.scale;
    while (scale > 0 && coef % 10n === 0n) {
        coef /= 10n;
        scale--;
    }
    if (coef === 0n)
        return "0";
    const neg = coef < 0n;
    let digits = (neg ? -coef : coef).toString();
    if (scale > 0) {
        if (digits.length <= scale)
            digits = "0".repeat(scale - digits.length + 1) + digits;
        digits = digits.slice(0, digits.length - scale) + "." + digits.slice(digits.length - scale);
    }
    return (neg ? "-" : "") + digits;
}
/** canonicalDecimal returns the canonical form of a decimal string, or throws DecimalError. */
export function canonicalDecimal(s) {
    return formatDecimal(parseDecimal(s));
}
/** toTicks returns d as an integer count of 10^-18 units, so decimals compare exactly as BigInts. */
export function toTicks(d) {
    return d.coef * 10n ** BigInt(MAX_SCALE - d.scale);
}
/** decimalToNumber converts a decimal string to the nearest float, for display only. */
export function decimalToNumber(s) {
    return Number(s);
}
