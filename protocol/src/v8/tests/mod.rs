//! Codec tests: golden vectors from the npm codec.

mod golden;
