//! The runner protocols Torpor speaks, one module per version: [`v7`] today (Rivet's runner
//! protocol, `@rivetkit/engine-runner@2.2.x`). Each module is a codec only — types, a strict
//! encoder and decoder, and their tests against golden vectors from the npm package — with no
//! behaviour: the core maps decoded messages onto its own events, so a second protocol (envoy
//! v8) is another module here plus a mapping in the core.

pub mod v7;
