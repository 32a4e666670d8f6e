//! The compact encoding in which the JS side hands an options object to the core, so that no
//! JS object is read from wasm (each `Reflect.get` across the boundary cost more than a whole
//! call of a JS peer). The JS side walks the object (own enumerable keys, lists and nested
//! objects, depth and length bounded as before) and writes each value as a tag and payload;
//! [`decode`] checks that the bytes are one whole value and reads it in place, as an [`Item`],
//! for [`super::options::apply_bytes`] to check; [`encode`] writes a Rust [`Value`] the same
//! way.
//!
//! | tag | value | payload |
//! |---|---|---|
//! | 0 | undefined | |
//! | 1 | null | |
//! | 2, 3 | false, true | |
//! | 4 | number | 8 bytes, f64 little-endian |
//! | 5 | string | u32 LE byte length, then UTF-8 |
//! | 6 | list | u32 LE count, then the items |
//! | 7 | object | u32 LE count, then (string key without its tag, value) pairs |
//! | 8 | function | |
//! | 9 | anything else | |

use alloc::vec::Vec;

use super::options::Value;

/// Nesting beyond this is not an options object anyone writes (the encoder stops at 3).
const MAX_DEPTH: u32 = 8;

/// One encoded value, read in place: strings borrow the bytes, and a list or an object is a
/// cursor over its items, read when walked. Nothing is copied or allocated, so the wasm
/// carries no tree of values to build and free. Made only by [`decode`], which has walked
/// all of the bytes once, so walking a part again finds it whole.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Item<'a> {
    Undefined,
    Null,
    Bool(bool),
    Number(f64),
    Str(&'a str),
    List(Items<'a>),
    Object(Fields<'a>),
    Function,
    Other,
}

/// Where a list's or an object's items are, and how many are left.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Cursor<'a> {
    bytes: &'a [u8],
    left: u32,
    depth: u32,
}

/// A list's items, in order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Items<'a>(Cursor<'a>);

/// An object's fields (key, value), in order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fields<'a>(Cursor<'a>);

fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    let (head, rest) = bytes.split_at_checked(n)?;
    *bytes = rest;
    Some(head)
}

fn u32_at(bytes: &mut &[u8]) -> Option<u32> {
    let b: [u8; 4] = take(bytes, 4)?.try_into().ok()?;
    Some(u32::from_le_bytes(b))
}

fn str_at<'a>(bytes: &mut &'a [u8]) -> Option<&'a str> {
    let len = usize::try_from(u32_at(bytes)?).ok()?;
    core::str::from_utf8(take(bytes, len)?).ok()
}

/// The value at the start of `bytes`, moving past all of it (a list's or an object's items
/// are walked, and so checked, here).
fn item<'a>(bytes: &mut &'a [u8], depth: u32) -> Option<Item<'a>> {
    if depth > MAX_DEPTH {
        return None;
    }
    let tag = *take(bytes, 1)?.first()?;
    Some(match tag {
        0 => Item::Undefined,
        1 => Item::Null,
        2 => Item::Bool(false),
        3 => Item::Bool(true),
        4 => {
            let b: [u8; 8] = take(bytes, 8)?.try_into().ok()?;
            Item::Number(f64::from_le_bytes(b))
        }
        5 => Item::Str(str_at(bytes)?),
        6 | 7 => {
            let left = u32_at(bytes)?;
            // Each item takes a byte at least: a forged count is refused, not looped over.
            if usize::try_from(left).ok()? > bytes.len() {
                return None;
            }
            let cursor = Cursor { bytes, left, depth: depth + 1 };
            let mut walk = cursor;
            while walk.next(tag == 7)?.is_some() {}
            *bytes = walk.bytes;
            if tag == 6 { Item::List(Items(cursor)) } else { Item::Object(Fields(cursor)) }
        }
        8 => Item::Function,
        9 => Item::Other,
        _ => return None,
    })
}

impl<'a> Cursor<'a> {
    /// The next item (with its key, in an object); `Some(None)` at the end; `None` for bytes
    /// that are not one.
    #[allow(clippy::type_complexity)]
    fn next(&mut self, keyed: bool) -> Option<Option<(&'a str, Item<'a>)>> {
        if self.left == 0 {
            return Some(None);
        }
        self.left -= 1;
        let key = if keyed { str_at(&mut self.bytes)? } else { "" };
        Some(Some((key, item(&mut self.bytes, self.depth)?)))
    }
}

impl<'a> Iterator for Items<'a> {
    type Item = Item<'a>;

    fn next(&mut self) -> Option<Item<'a>> {
        self.0.next(false).flatten().map(|(_, item)| item)
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = (&'a str, Item<'a>);

    fn next(&mut self) -> Option<(&'a str, Item<'a>)> {
        self.0.next(true).flatten()
    }
}

/// The value encoded in `bytes`, or `None` if they are not one whole encoded value (a driver
/// bug, never a user's mistake: the encoder writes only what this reads).
pub fn decode(bytes: &[u8]) -> Option<Item<'_>> {
    let mut rest = bytes;
    let value = item(&mut rest, 0)?;
    rest.is_empty().then_some(value)
}

/// `value` as encode.js would write it (containers past [`MAX_DEPTH`] as "anything else",
/// where no option looks), for Rust callers that hold a [`Value`].
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write(&mut out, value, 0);
    out
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&u32::try_from(s.len()).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn write(out: &mut Vec<u8>, value: &Value, depth: u32) {
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes();
    match value {
        Value::Undefined => out.push(0),
        Value::Null => out.push(1),
        Value::Bool(b) => out.push(2 + u8::from(*b)),
        Value::Number(n) => {
            out.push(4);
            out.extend_from_slice(&n.to_le_bytes());
        }
        Value::Str(s) => {
            out.push(5);
            write_str(out, s);
        }
        Value::List(_) | Value::Object(_) if depth >= MAX_DEPTH => out.push(9),
        Value::List(items) => {
            out.push(6);
            out.extend_from_slice(&count(items.len()));
            for item in items {
                write(out, item, depth + 1);
            }
        }
        Value::Object(fields) => {
            out.push(7);
            out.extend_from_slice(&count(fields.len()));
            for (key, item) in fields {
                write_str(out, key);
                write(out, item, depth + 1);
            }
        }
        Value::Function => out.push(8),
        Value::Other => out.push(9),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;
    use alloc::vec;

    /// An item read back into the owned value it encodes.
    fn owned(item: Item) -> Value {
        match item {
            Item::Undefined => Value::Undefined,
            Item::Null => Value::Null,
            Item::Bool(b) => Value::Bool(b),
            Item::Number(n) => Value::Number(n),
            Item::Str(s) => Value::Str(String::from(s)),
            Item::List(items) => Value::List(items.map(owned).collect()),
            Item::Object(fields) => Value::Object(fields.map(|(k, v)| (String::from(k), owned(v))).collect()),
            Item::Function => Value::Function,
            Item::Other => Value::Other,
        }
    }

    fn string(s: &str) -> Vec<u8> {
        let mut out = (s.len() as u32).to_le_bytes().to_vec();
        out.extend_from_slice(s.as_bytes());
        out
    }

    #[test]
    fn every_tag_decodes() {
        let mut bytes = vec![7];
        bytes.extend_from_slice(&4u32.to_le_bytes());
        bytes.extend(string("maxAttempts"));
        bytes.push(4);
        bytes.extend_from_slice(&5.0f64.to_le_bytes());
        bytes.extend(string("methods"));
        bytes.extend([6, 2, 0, 0, 0, 5]);
        bytes.extend(string("GET"));
        bytes.extend([1]);
        bytes.extend(string("onRetry"));
        bytes.push(8);
        bytes.extend(string("x"));
        bytes.extend([9]);
        let want = Value::Object(vec![
            (String::from("maxAttempts"), Value::Number(5.0)),
            (String::from("methods"), Value::List(vec![Value::Str(String::from("GET")), Value::Null])),
            (String::from("onRetry"), Value::Function),
            (String::from("x"), Value::Other),
        ]);
        assert_eq!(decode(&bytes).map(owned), Some(want.clone()));
        assert_eq!(encode(&want), bytes, "written as encode.js writes it");
        assert_eq!(decode(&[0]), Some(Item::Undefined));
        assert_eq!(decode(&[3]), Some(Item::Bool(true)));
    }

    #[test]
    fn truncated_forged_or_trailing_bytes_are_refused() {
        assert_eq!(decode(&[]), None);
        assert_eq!(decode(&[4, 0, 0]), None);
        assert_eq!(decode(&[6, 255, 255, 255, 255]), None);
        assert_eq!(decode(&[5, 2, 0, 0, 0, 0xff, 0xfe]), None);
        assert_eq!(decode(&[0, 0]), None);
        assert_eq!(decode(&[42]), None);
        let deep: Vec<u8> = core::iter::repeat_n([6u8, 1, 0, 0, 0], 20).flatten().chain([0]).collect();
        assert_eq!(decode(&deep), None);
        // A forged count inside a list is refused too, however deep.
        assert_eq!(decode(&[6, 1, 0, 0, 0, 7, 9, 0, 0, 0, 0]), None);
    }

    #[test]
    fn encode_writes_what_is_too_deep_as_anything_else() {
        let mut deep = Value::Number(1.0);
        for _ in 0..20 {
            deep = Value::List(vec![deep]);
        }
        let read = decode(&encode(&deep)).map(owned);
        let mut want = Value::Other;
        for _ in 0..MAX_DEPTH {
            want = Value::List(vec![want]);
        }
        assert_eq!(read, Some(want));
    }
}
