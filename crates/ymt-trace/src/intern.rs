//! Interning of id strings to dense `u32` numbers.
//!
//! All strings live in one arena and the hash table holds only their numbers,
//! so a million person ids cost about 15 bytes each instead of a boxed string
//! plus a map entry.

use std::hash::BuildHasher;

use hashbrown::HashTable;

/// Maps id strings to dense numbers `0..len()` in order of first appearance.
#[derive(Clone, Default)]
pub struct Interner {
    arena: String,
    /// `ends[i]` is the end of string `i` in `arena`; string `i` starts at `ends[i - 1]`.
    ends: Vec<u32>,
    table: HashTable<u32>,
    hasher: foldhash::fast::FixedState,
}

/// The arena is addressed by `u32` offsets.
pub const ARENA_BYTES_MAX: usize = u32::MAX as usize;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InternError {
    #[error("too many distinct ids (the dense numbering is 32-bit)")]
    TooMany,
}

impl std::fmt::Debug for Interner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interner")
            .field("len", &self.len())
            .finish()
    }
}

impl Interner {
    pub fn new() -> Interner {
        Interner::default()
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The string of dense number `number`; panics if it was never assigned,
    /// which is a bug in the caller since numbers only come from this interner.
    pub fn resolve(&self, number: u32) -> &str {
        let index = number as usize;
        let start = if index == 0 {
            0
        } else {
            self.ends[index - 1] as usize
        };
        &self.arena[start..self.ends[index] as usize]
    }

    fn hash(&self, text: &str) -> u64 {
        self.hasher.hash_one(text)
    }

    pub fn get(&self, text: &str) -> Option<u32> {
        let hash = self.hash(text);
        self.table
            .find(hash, |&number| self.resolve(number) == text)
            .copied()
    }

    /// The number of `text`, assigning the next one if it is new.
    pub fn intern(&mut self, text: &str) -> Result<u32, InternError> {
        let hash = self.hash(text);
        let Interner {
            arena,
            ends,
            table,
            hasher,
        } = self;
        let lookup = |number: &u32| {
            let index = *number as usize;
            let start = if index == 0 {
                0
            } else {
                ends[index - 1] as usize
            };
            &arena[start..ends[index] as usize] == text
        };
        if let Some(&number) = table.find(hash, lookup) {
            return Ok(number);
        }
        if ends.len() >= u32::MAX as usize || arena.len() + text.len() > ARENA_BYTES_MAX {
            return Err(InternError::TooMany);
        }
        let number = ends.len() as u32;
        arena.push_str(text);
        ends.push(arena.len() as u32);
        let arena_ref: &String = arena;
        let ends_ref: &Vec<u32> = ends;
        table.insert_unique(hash, number, |&other| {
            let index = other as usize;
            let start = if index == 0 {
                0
            } else {
                ends_ref[index - 1] as usize
            };
            hasher.hash_one(&arena_ref[start..ends_ref[index] as usize])
        });
        Ok(number)
    }

    /// Forgets every number from `len` on, so an aborted import leaves the
    /// interner exactly as it was.
    pub fn truncate(&mut self, len: usize) {
        if len >= self.len() {
            return;
        }
        self.table.retain(|number| (*number as usize) < len);
        self.ends.truncate(len);
        let arena_len = self.ends.last().copied().unwrap_or(0) as usize;
        self.arena.truncate(arena_len);
    }

    /// Approximate heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.arena.capacity() + self.ends.capacity() * 4 + self.table.capacity() * 5
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.len() as u32).map(|number| self.resolve(number))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_dense_and_stable() {
        let mut interner = Interner::new();
        assert_eq!(interner.intern("a").unwrap(), 0);
        assert_eq!(interner.intern("bb").unwrap(), 1);
        assert_eq!(interner.intern("a").unwrap(), 0);
        assert_eq!(interner.resolve(1), "bb");
        assert_eq!(interner.get("c"), None);
        interner.truncate(1);
        assert_eq!(interner.get("bb"), None);
        assert_eq!(interner.intern("c").unwrap(), 1);
        assert_eq!(interner.iter().collect::<Vec<_>>(), vec!["a", "c"]);
    }
}
