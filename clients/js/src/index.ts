export * from "./decimal.js";
export * from "./checksum.js";
export * from "./book.js";
export * from "./client.js";
