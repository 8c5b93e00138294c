//! JSON values from the core as plain Ruby data (Hash with String keys,
//! Array, String, Integer, Float, true/false/nil), so Ruby and C give out
//! the same shapes from one serializer.

use magnus::{value::ReprValue, Error, IntoValue, Ruby, Value};
use serde_json::Value as Json;

pub(crate) fn to_ruby(ruby: &Ruby, json: &Json) -> Result<Value, Error> {
    Ok(match json {
        Json::Null => ruby.qnil().as_value(),
        Json::Bool(b) => (*b).into_value_with(ruby),
        Json::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.into_value_with(ruby),
            (None, Some(u)) => u.into_value_with(ruby),
            _ => n.as_f64().unwrap_or(f64::NAN).into_value_with(ruby),
        },
        Json::String(s) => ruby.str_new(s).as_value(),
        Json::Array(items) => {
            let array = ruby.ary_new_capa(items.len());
            for item in items {
                array.push(to_ruby(ruby, item)?)?;
            }
            array.as_value()
        }
        Json::Object(map) => {
            let hash = ruby.hash_new();
            for (key, value) in map {
                hash.aset(key.as_str(), to_ruby(ruby, value)?)?;
            }
            hash.as_value()
        }
    })
}
