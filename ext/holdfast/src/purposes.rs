//! Ruby values ⇄ lock purposes: `nil`, `false` and Symbols, compared by
//! identity as Rails' `==` / `include?` compare them.

use magnus::{rb_sys::AsRawValue, value::ReprValue, Error, RArray, Ruby, Symbol, Value};

use holdfast::Purpose;

pub(crate) fn from_ruby(ruby: &Ruby, value: Value, what: &str) -> Result<Purpose, Error> {
    if value.is_nil() {
        return Ok(Purpose::Nil);
    }
    if value.as_raw() == ruby.qfalse().as_raw() {
        return Ok(Purpose::False);
    }
    match Symbol::from_value(value) {
        Some(symbol) => Ok(Purpose::named(&symbol.name()?)),
        None => Err(Error::new(
            ruby.exception_arg_error(),
            format!("{what} must be a Symbol (or nil), got {}", value.inspect()),
        )),
    }
}

pub(crate) fn list_from_ruby(ruby: &Ruby, value: Value, what: &str) -> Result<Vec<Purpose>, Error> {
    let Some(array) = RArray::from_value(value) else {
        return Err(Error::new(
            ruby.exception_arg_error(),
            format!(
                "{what} must be an Array of Symbols, got {}",
                value.inspect()
            ),
        ));
    };
    array
        .into_iter()
        .map(|item| from_ruby(ruby, item, what))
        .collect()
}

pub(crate) fn to_ruby(ruby: &Ruby, purpose: Purpose) -> Value {
    match purpose {
        Purpose::Nil => ruby.qnil().as_value(),
        Purpose::False => ruby.qfalse().as_value(),
        Purpose::Named(_) => match purpose.name() {
            Some(name) => ruby.to_symbol(&*name).as_value(),
            None => ruby.qnil().as_value(),
        },
    }
}

pub(crate) fn list_to_ruby(ruby: &Ruby, purposes: &[Purpose]) -> RArray {
    let array = ruby.ary_new_capa(purposes.len());
    for purpose in purposes {
        let _ = array.push(to_ruby(ruby, *purpose));
    }
    array
}
