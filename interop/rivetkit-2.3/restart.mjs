// A counter's state across a restart of the engine (see ../harness/restart.mjs):
//   node restart.mjs set|check KEY N
// Needs Node >= 22.
import { restartCheck } from "../harness/restart.mjs";

process.env.RIVET_LOG_LEVEL ??= "error";
const { createClient } = await import("rivetkit/client");
await restartCheck(createClient);
