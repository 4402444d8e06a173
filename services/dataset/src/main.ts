import { runService } from "@trainyard/runtime";
import { Env } from "./env.js";
import { startDatasetService } from "./service.js";

await runService("dataset", Env, (env, log) => startDatasetService(env, log));
