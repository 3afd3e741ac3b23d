// Hosts the counter actor: connects to the engine as a runner and runs actors as they are needed.
//
// RIVET_ENDPOINT (default http://127.0.0.1:6420) picks the engine; RIVET_TOKEN, RIVET_NAMESPACE
// (default "default") and RIVET_RUNNER (the runner name, default "default") are optional.
import { registry } from "./actors.mjs";

registry.startRunner();
