//! Keyword arguments for the few native methods that take them directly
//! (the hot block methods: `wrap`, `sharing`, `exclusive`), with Ruby's own
//! errors for a wrong argument count or an unknown keyword.

use magnus::{prelude::*, value::ReprValue, Error, RHash, Ruby, Symbol, Value};

/// `args` is what a `-1` arity method got: nothing, or one Hash of keywords.
/// `each` gets every keyword's name and value and says whether it knows it.
pub(crate) fn parse(
    ruby: &Ruby,
    args: &[Value],
    mut each: impl FnMut(&str, Value) -> Result<bool, Error>,
) -> Result<(), Error> {
    let hash = match args {
        [] => return Ok(()),
        [hash] if RHash::from_value(*hash).is_some() => RHash::try_convert(*hash)?,
        _ => {
            return Err(Error::new(
                ruby.exception_arg_error(),
                format!(
                    "wrong number of arguments (given {}, expected 0)",
                    args.len()
                ),
            ))
        }
    };
    let mut unknown = Vec::new();
    let mut failure = None;
    hash.foreach(|key: Value, value: Value| {
        let name = Symbol::from_value(key).and_then(|k| k.name().ok().map(|n| n.into_owned()));
        match name.map(|name| each(&name, value)) {
            Some(Ok(true)) => {}
            Some(Ok(false)) | None => unknown.push(key.inspect()),
            Some(Err(error)) => {
                failure = Some(error);
                return Ok(magnus::r_hash::ForEach::Stop);
            }
        }
        Ok(magnus::r_hash::ForEach::Continue)
    })?;
    if let Some(error) = failure {
        return Err(error);
    }
    if !unknown.is_empty() {
        let plural = if unknown.len() > 1 { "s" } else { "" };
        return Err(Error::new(
            ruby.exception_arg_error(),
            format!("unknown keyword{plural}: {}", unknown.join(", ")),
        ));
    }
    Ok(())
}
