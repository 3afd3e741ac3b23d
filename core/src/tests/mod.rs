//! Scenario tests through the in-test driver: each asserts the exact outputs, with runner bytes
//! decoded back to protocol types.

mod basics;
