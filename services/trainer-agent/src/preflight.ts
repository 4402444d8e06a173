/**
 * Checks this host before its trainer-agent starts, with the agent's own environment
 * (`scripts/join.sh` runs it, then starts the agent): the configuration, the slots it will offer,
 * the trainer's Python, and NATS with this agent's credential. Prints what it found; exits 1 with
 * a message saying what to fix.
 */
import { agentUser } from "@trainyard/contracts";
import { ConfigError, natsAuth, parseEnv } from "@trainyard/runtime";
import { detectSlots } from "./devices.js";
import { Env } from "./env.js";
import { checkNats, checkTrainerPython, describeSlots, PreflightError } from "./host-checks.js";

const say = (line: string) => console.log(`[preflight] ${line}`);

try {
  const env = parseEnv(Env);
  const auth = natsAuth(env, agentUser(env.AGENT_ID));
  say(`agent ${env.AGENT_ID}, NATS user ${auth.user}, work dir ${env.AGENT_WORK_DIR}`);
  const slots = await detectSlots(env.AGENT_DEVICES);
  say(describeSlots(slots, env.AGENT_DEVICES));
  const python = await checkTrainerPython(env.TRAINER_PYTHON, slots);
  say(`trainer: ${env.TRAINER_PYTHON} (torch ${python.torch}, ${python.cudaDevices} CUDA device(s))`);
  await checkNats({ servers: env.NATS_URL, agentId: env.AGENT_ID, auth });
  say(`NATS at ${env.NATS_URL} accepts ${auth.user}`);
} catch (err) {
  if (!(err instanceof PreflightError || err instanceof ConfigError)) throw err;
  console.error(`[preflight] ${err.message}`);
  process.exit(1);
}
