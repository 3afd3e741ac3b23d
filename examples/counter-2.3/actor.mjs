// Hosts the actors: connects to the engine as an envoy and runs actors as they are needed.
//
// RIVET_ENDPOINT (default http://127.0.0.1:6420) picks the engine; RIVET_TOKEN, RIVET_NAMESPACE
// (default "default") and RIVET_POOL (the pool name, default "default") are optional.
//
// With a loopback endpoint RivetKit 2.3 would also start "Services", a second envoy process of
// its own (pool `services`): Torpor does not host it, so it is off unless you set
// RIVET_RUN_SERVICES yourself. It is read when the registry starts: set it before loading it.
process.env.RIVET_RUN_SERVICES ??= "0";
const { registry } = await import("./actors.mjs");

registry.start();
