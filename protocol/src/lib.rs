//! The runner protocols, one module per version: [`v7`] (Rivet's runner protocol,
//! `@rivetkit/engine-runner@2.2.x`) and [`v8`] (Rivet's envoy protocol, RivetKit 2.3's native
//! envoy). Each module is a codec only — its messages, a strict encoder and decoder, and their
//! tests against golden vectors from the npm package — with no behaviour: the core maps decoded
//! messages onto its own vocabulary (v7 today; v8's mapping is the next step).
//!
//! What every version shares sits at the top: the BARE primitives, the strict decoder's errors
//! and limits, string maps, and [`shared`], the types both versions encode alike.
#![warn(clippy::unwrap_used, clippy::indexing_slicing)]

#[cfg(test)]
mod describe;
mod error;
#[cfg(test)]
mod golden;
mod map;
pub mod shared;
pub mod v7;
pub mod v8;
pub(crate) mod wire;

pub use error::{DecodeError, DecodeErrorKind};
pub use map::StrMap;
pub use wire::Limits;
