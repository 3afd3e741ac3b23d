//! Codec tests: golden vectors from the npm codec, strict decoding, worked byte examples.

mod golden;
mod strict;
