// The actor process the scenarios start (and kill): a RivetKit 2.3.19 envoy hosting
// registry.mjs. Environment: RIVET_ENDPOINT, and optionally RIVET_TOKEN, RIVET_NAMESPACE,
// RIVET_POOL. Services (RivetKit's second envoy for a loopback endpoint) stay off, as in
// examples/counter-2.3: Torpor does not host them.
process.env.RIVET_RUN_SERVICES ??= "0";
const { registry } = await import("./registry.mjs");

registry.start();
