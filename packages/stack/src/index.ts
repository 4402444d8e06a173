export * from "./processes.js";
export * from "./infra.js";
export * from "./stack.js";
export * from "./fixtures/file-server.js";
export * from "./fixtures/callback-receiver.js";
export * from "./fixtures/synthetic-dataset.js";
export * from "./fixtures/train-request.js";
export * from "./fixtures/zip-builder.js";
