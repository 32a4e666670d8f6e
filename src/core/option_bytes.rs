//! The compact encoding in which the JS side hands an options object to the core, so that no
//! JS object is read from wasm (each `Reflect.get` across the boundary cost more than a whole
//! call of a JS peer). The JS side walks the object (own enumerable keys, lists and nested
//! objects, depth and length bounded as before) and writes each value as a tag and payload;
//! [`decode`] turns it back into a [`Value`] for [`super::options::apply`] to check.
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

use alloc::string::String;
use alloc::vec::Vec;

use super::options::Value;

/// Nesting beyond this is not an options object anyone writes (the encoder stops at 3).
const MAX_DEPTH: u32 = 8;

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.bytes.split_at_checked(n)?;
        self.bytes = rest;
        Some(head)
    }

    fn byte(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }

    fn u32(&mut self) -> Option<u32> {
        let b: [u8; 4] = self.take(4)?.try_into().ok()?;
        Some(u32::from_le_bytes(b))
    }

    fn string(&mut self) -> Option<String> {
        let len = usize::try_from(self.u32()?).ok()?;
        let text = core::str::from_utf8(self.take(len)?).ok()?;
        Some(String::from(text))
    }

    /// A count of items that must each take at least one byte: never more than what is left,
    /// so a forged count cannot make a huge allocation.
    fn count(&mut self) -> Option<usize> {
        let n = usize::try_from(self.u32()?).ok()?;
        (n <= self.bytes.len()).then_some(n)
    }

    fn value(&mut self, depth: u32) -> Option<Value> {
        if depth > MAX_DEPTH {
            return None;
        }
        Some(match self.byte()? {
            0 => Value::Undefined,
            1 => Value::Null,
            2 => Value::Bool(false),
            3 => Value::Bool(true),
            4 => {
                let b: [u8; 8] = self.take(8)?.try_into().ok()?;
                Value::Number(f64::from_le_bytes(b))
            }
            5 => Value::Str(self.string()?),
            6 => {
                let n = self.count()?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.value(depth + 1)?);
                }
                Value::List(items)
            }
            7 => {
                let n = self.count()?;
                let mut fields = Vec::with_capacity(n);
                for _ in 0..n {
                    let key = self.string()?;
                    fields.push((key, self.value(depth + 1)?));
                }
                Value::Object(fields)
            }
            8 => Value::Function,
            9 => Value::Other,
            _ => return None,
        })
    }
}

/// The value encoded in `bytes`, or `None` if they are not one whole encoded value (a driver
/// bug, never a user's mistake: the encoder writes only what this reads).
pub fn decode(bytes: &[u8]) -> Option<Value> {
    let mut reader = Reader { bytes };
    let value = reader.value(0)?;
    reader.bytes.is_empty().then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

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
        assert_eq!(decode(&bytes), Some(want));
        assert_eq!(decode(&[0]), Some(Value::Undefined));
        assert_eq!(decode(&[3]), Some(Value::Bool(true)));
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
    }
}
