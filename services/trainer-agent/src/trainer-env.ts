/**
 * The environment a trainer process gets: an explicit allow-list of what Python, PyTorch, CUDA
 * and the system need, plus the trainer's own settings. Never the rest of the agent's
 * environment: its NATS credentials and seed-file paths, tokens, or anything an operator set for
 * the agent. The trainer runs user-supplied data through a large dependency tree; what it cannot
 * see it cannot leak.
 */
const PASSED: readonly RegExp[] = [
  /^(PATH|HOME|USER|LOGNAME|SHELL|LANG|LANGUAGE|TZ|TMPDIR|TEMP|TMP)$/,
  /^LC_[A-Z_]+$/,
  /^LD_LIBRARY_PATH$/,
  // GPUs: device selection, driver capabilities, libraries, NCCL tuning
  /^(CUDA|NVIDIA|NCCL|CUDNN)_[A-Z0-9_]+$/,
  // CPU threads and PyTorch's allocator settings
  /^(OMP|MKL|OPENBLAS)_NUM_THREADS$/,
  /^PYTORCH_[A-Z0-9_]+$/,
  // the Python interpreter the agent chose (a virtual environment)
  /^VIRTUAL_ENV$/,
  // the trainer's own setting (python-trainer/src/trainyard_trainer/settings.py)
  /^TRAINYARD_WEIGHTS_DIR$/,
];

/**
 * The trainer's environment from the agent's: the allow-listed variables, offline and unbuffered,
 * and the agent's pid, so that the trainer dies with it.
 */
export function trainerEnvironment(agentEnv: NodeJS.ProcessEnv, agentPid = process.pid): NodeJS.ProcessEnv {
  const passed = Object.entries(agentEnv).filter(
    ([name, value]) => value !== undefined && PASSED.some((pattern) => pattern.test(name)),
  );
  return {
    ...Object.fromEntries(passed),
    YOLO_OFFLINE: "true",
    PYTHONUNBUFFERED: "1",
    TRAINYARD_AGENT_PID: String(agentPid),
  };
}
