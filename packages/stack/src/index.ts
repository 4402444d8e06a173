export * from "./processes.js";
export * from "./infra.js";
