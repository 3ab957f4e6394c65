/**
 * The feed's book checksum: CRC-32 (IEEE) of "price:size;" for the top min(10, depth) levels per side
 * (10 for a full-book subscription), bids best first, then "|", then asks best first.
 */
const TABLE = (() => {
    const t = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
        let c = n;
        for (let k = 0; k < 8; k++)
            c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
        t[n] = c >>> 0;
    }
    return t;
})();
const encoder = new TextEncoder();
/** crc32 returns the CRC-32 (IEEE) of the UTF-8 encoding of s as an unsigned 32-bit integer. */
export function crc32(s) {
    let c = 0xffffffff;
    for (const b of encoder.encode(s))
        c = TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
}
/** checksumLevels is how many levels per side the checksum covers for a subscription depth (0 = full). */
export function checksumLevels(depth) {
    return depth <= 0 ? 10 : Math.min(10, depth);
}
/** checksumString builds the checksum input from levels best first, for a subscription depth. */
export function checksumString(bids, asks, depth) {
    const n = checksumLevels(depth);
    let s = "";
    for (const [p, q] of bids.slice(0, n))
        s += `${p}:${q};`;
    s += "|";
    for (const [p, q] of asks.slice(0, n))
        s += `${p}:${q};`;
    return s;
}
/** checksum returns the CRC-32 of checksumString(bids, asks, depth). */
export function checksum(bids, asks, depth) {
    return crc32(checksumString(bids, asks, depth));
}
