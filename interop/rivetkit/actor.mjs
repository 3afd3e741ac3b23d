// The actor process the scenarios start (and kill): a RivetKit 2.2.1 runner hosting registry.mjs.
// Environment: RIVET_ENDPOINT, and optionally RIVET_TOKEN, RIVET_NAMESPACE, RIVET_RUNNER.
import { registry } from "./registry.mjs";

registry.startRunner();
