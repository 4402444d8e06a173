export * from "./errors.js";
export * from "./rest.js";
export * from "./callbacks.js";
export * from "./events.js";
export * from "./subjects.js";
export * from "./trainer-protocol.js";
export * from "./projection.js";
export * from "./openapi.js";
