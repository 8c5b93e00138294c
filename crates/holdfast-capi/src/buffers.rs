//! Borrowed byte strings in, caller-owned buffers out.

use std::ffi::{c_char, CStr};

use crate::error::{holdfast_status, Failure};

/// A borrowed `(ptr, len)` UTF-8 string. NULL is allowed only when `len` is 0.
///
/// # Safety
/// `ptr` is NULL or points to `len` readable bytes, valid for the call.
pub(crate) unsafe fn str_arg<'a>(
    ptr: *const u8,
    len: usize,
    what: &str,
) -> Result<&'a str, Failure> {
    // SAFETY: forwarded contract.
    let bytes = unsafe { bytes_arg(ptr, len, what) }?;
    std::str::from_utf8(bytes).map_err(|_| {
        Failure::new(
            holdfast_status::HOLDFAST_INVALID_ARGUMENT,
            format!("{what} is not valid UTF-8"),
        )
    })
}

/// A borrowed `(ptr, len)` byte string. NULL is allowed only when `len` is 0.
///
/// # Safety
/// `ptr` is NULL or points to `len` readable bytes, valid for the call.
pub(crate) unsafe fn bytes_arg<'a>(
    ptr: *const u8,
    len: usize,
    what: &str,
) -> Result<&'a [u8], Failure> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(Failure::new(
            holdfast_status::HOLDFAST_NULL_ARGUMENT,
            format!("{what} is NULL but its length is {len}"),
        ));
    }
    // SAFETY: non-NULL, and the caller promises `len` readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// A NUL-terminated UTF-8 string argument that must not be NULL.
///
/// # Safety
/// `ptr` is NULL or a NUL-terminated string valid for the call.
pub(crate) unsafe fn c_str_arg<'a>(ptr: *const c_char, what: &str) -> Result<&'a str, Failure> {
    if ptr.is_null() {
        return Err(Failure::new(
            holdfast_status::HOLDFAST_NULL_ARGUMENT,
            format!("{what} is NULL"),
        ));
    }
    // SAFETY: non-NULL and NUL-terminated per the contract.
    unsafe { CStr::from_ptr(ptr) }.to_str().map_err(|_| {
        Failure::new(
            holdfast_status::HOLDFAST_INVALID_ARGUMENT,
            format!("{what} is not valid UTF-8"),
        )
    })
}

/// Copies `data` into the caller's buffer. Text (`nul` true) gets a
/// terminating NUL. `*out_len` always gets `data`'s length; when the buffer
/// is too small nothing is copied and `HOLDFAST_BUFFER_TOO_SMALL` returned.
///
/// # Safety
/// `buf` is NULL (with `len` 0) or `len` writable bytes; `out_len` is NULL
/// (refused) or writable.
pub(crate) unsafe fn write_out(
    data: &[u8],
    nul: bool,
    buf: *mut u8,
    len: usize,
    out_len: *mut usize,
    what: &str,
) -> Result<(), Failure> {
    if out_len.is_null() {
        return Err(Failure::new(
            holdfast_status::HOLDFAST_NULL_ARGUMENT,
            "out_len is NULL",
        ));
    }
    // SAFETY: checked non-NULL; the caller promises it is writable.
    unsafe { *out_len = data.len() };
    let needed = data.len() + usize::from(nul);
    if needed > 0 && (buf.is_null() || len < needed) {
        return Err(Failure::new(
            holdfast_status::HOLDFAST_BUFFER_TOO_SMALL,
            format!(
                "{what} needs {} bytes{}; the buffer has {len}",
                data.len(),
                if nul { " plus the NUL" } else { "" }
            ),
        ));
    }
    if needed > 0 {
        // SAFETY: `buf` has `len` >= needed writable bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), buf, data.len());
            if nul {
                *buf.add(data.len()) = 0;
            }
        }
    }
    Ok(())
}

/// [`write_out`] for text: NUL-terminated into a `char` buffer.
///
/// # Safety
/// As [`write_out`].
pub(crate) unsafe fn write_text(
    text: &str,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
    what: &str,
) -> Result<(), Failure> {
    // SAFETY: the caller's buffer contract, forwarded.
    unsafe { write_out(text.as_bytes(), true, buf.cast(), len, out_len, what) }
}

/// Writes one value through an out pointer that must not be NULL.
///
/// # Safety
/// `out` is NULL (refused) or writable.
pub(crate) unsafe fn write_value<T>(out: *mut T, value: T, what: &str) -> Result<(), Failure> {
    if out.is_null() {
        return Err(Failure::new(
            holdfast_status::HOLDFAST_NULL_ARGUMENT,
            format!("{what} is NULL"),
        ));
    }
    // SAFETY: checked non-NULL; writable per the contract.
    unsafe { out.write(value) };
    Ok(())
}
