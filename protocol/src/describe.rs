//! Test-only: renders decoded values in the JSON form `interop/gen-vectors.mjs` writes for the
//! npm codec's values, so golden vectors compare whole values, not just bytes.
//!
//! Conventions (mirroring the generator): camelCase field names, unions as `{tag, val}` with
//! `val: null` for void variants, `None` as null, i64/u64 as decimal strings, u16/u32 as numbers,
//! bytes as `{"$bytes": hex}`, maps as `{"$map": [[k, v], …]}` in order.

use serde_json::{Value, json};

use crate::map::StrMap;
use crate::shared::{GatewayId, RequestId};

pub(crate) trait Describe {
    fn describe(&self) -> Value;
}

pub(crate) fn camel_case(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        match c {
            '_' => upper = true,
            c if upper => {
                out.extend(c.to_uppercase());
                upper = false;
            }
            c => out.push(c),
        }
    }
    out
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn bytes(b: &[u8]) -> Value {
    json!({ "$bytes": hex(b) })
}

impl Describe for u16 {
    fn describe(&self) -> Value {
        json!(self)
    }
}
impl Describe for u32 {
    fn describe(&self) -> Value {
        json!(self)
    }
}
impl Describe for u64 {
    fn describe(&self) -> Value {
        json!(self.to_string())
    }
}
impl Describe for i64 {
    fn describe(&self) -> Value {
        json!(self.to_string())
    }
}
impl Describe for bool {
    fn describe(&self) -> Value {
        json!(self)
    }
}
impl Describe for String {
    fn describe(&self) -> Value {
        json!(self)
    }
}
impl Describe for Vec<u8> {
    fn describe(&self) -> Value {
        bytes(self)
    }
}
impl Describe for [u8; 8] {
    fn describe(&self) -> Value {
        bytes(self)
    }
}
impl Describe for GatewayId {
    fn describe(&self) -> Value {
        bytes(&self.to_bytes())
    }
}
impl Describe for RequestId {
    fn describe(&self) -> Value {
        bytes(&self.to_bytes())
    }
}
impl<T: Describe> Describe for Option<T> {
    fn describe(&self) -> Value {
        self.as_ref().map_or(Value::Null, Describe::describe)
    }
}
impl<T: Describe + crate::wire::ListElement> Describe for Vec<T> {
    fn describe(&self) -> Value {
        Value::Array(self.iter().map(Describe::describe).collect())
    }
}
impl<V: Describe> Describe for StrMap<V> {
    fn describe(&self) -> Value {
        let pairs: Vec<Value> = self.iter().map(|(k, v)| json!([k, v.describe()])).collect();
        json!({ "$map": pairs })
    }
}
