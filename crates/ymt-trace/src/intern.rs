//! Interning of id strings to dense `u32` numbers.
//!
//! The table is split into shards by hash. A shard keeps its strings in one
//! arena and its hash table holds only shard-local numbers, so a million
//! person ids cost about 20 bytes each instead of a boxed string plus a map
//! entry. Bulk interning ([`Interner::intern_batch`]) groups the lookups by
//! shard, so each shard's few hundred kilobytes stay in cache while its
//! lookups run, and shards run in parallel; first-appearance numbering is
//! kept exactly as if the strings had been interned one by one.
//! [`Interner::from_distinct`] rebuilds a table from its strings in number
//! order (a snapshot) without a lookup per string.

use std::hash::BuildHasher;

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;
use rayon::prelude::*;

const SHARD_BITS: u32 = 6;
const SHARDS: usize = 1 << SHARD_BITS;
const LOCAL_BITS: u32 = 32 - SHARD_BITS;
const LOCAL_MASK: u32 = (1 << LOCAL_BITS) - 1;

/// A shard's arena is addressed by `u32` offsets.
pub const ARENA_BYTES_MAX: usize = u32::MAX as usize;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InternError {
    #[error("too many distinct ids (the dense numbering is 32-bit)")]
    TooMany,
}

/// Why [`Interner::from_distinct`] refused its strings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FromDistinctError {
    #[error("id number {number} repeats id number {first}")]
    Duplicate { number: u32, first: u32 },
    #[error(transparent)]
    Intern(#[from] InternError),
}

#[derive(Clone, Default)]
struct Shard {
    arena: String,
    /// `ends[i]` is the end of local string `i`; it starts at `ends[i - 1]`.
    ends: Vec<u32>,
    table: HashTable<u32>,
    /// Global number of each local string.
    globals: Vec<u32>,
}

/// The string of local number `local` in a shard's arena.
fn local_text<'a>(arena: &'a str, ends: &[u32], local: u32) -> &'a str {
    let index = local as usize;
    let start = if index == 0 {
        0
    } else {
        ends[index - 1] as usize
    };
    &arena[start..ends[index] as usize]
}

impl Shard {
    fn resolve(&self, local: u32) -> &str {
        local_text(&self.arena, &self.ends, local)
    }

    fn find(&self, hash: u64, text: &str) -> Option<u32> {
        self.table
            .find(hash, |&local| self.resolve(local) == text)
            .copied()
    }

    fn full(&self, text: &str) -> bool {
        self.ends.len() > LOCAL_MASK as usize || self.arena.len() + text.len() > ARENA_BYTES_MAX
    }

    /// Adds a string known to be absent; its global number is set by the caller.
    fn insert(&mut self, hash: u64, text: &str, hasher: &foldhash::fast::FixedState) -> u32 {
        let local = self.ends.len() as u32;
        self.arena.push_str(text);
        self.ends.push(self.arena.len() as u32);
        self.globals.push(u32::MAX);
        let Shard {
            arena, ends, table, ..
        } = self;
        table.insert_unique(hash, local, |&other| {
            hasher.hash_one(local_text(arena, ends, other))
        });
        local
    }

    fn heap_bytes(&self) -> usize {
        self.arena.capacity()
            + (self.ends.capacity() + self.globals.capacity()) * 4
            + self.table.capacity() * 5
    }
}

/// A shard's part of a batch: the local number of each of its inputs, and
/// the (input position, local number) of each string new to it.
type ShardOutcome = (Vec<u32>, Vec<(u32, u32)>);

/// The inputs of one shard during a batch.
#[derive(Default)]
struct ShardInput {
    items: Vec<u32>,
    hashes: Vec<u64>,
    text: String,
    ends: Vec<u32>,
}

/// Maps id strings to dense numbers `0..len()` in order of first appearance.
#[derive(Clone)]
pub struct Interner {
    shards: Vec<Shard>,
    /// Global number → `shard << LOCAL_BITS | local`.
    locations: Vec<u32>,
    hasher: foldhash::fast::FixedState,
}

impl Default for Interner {
    fn default() -> Interner {
        Interner {
            shards: vec![Shard::default(); SHARDS],
            locations: Vec::new(),
            hasher: id_hasher(),
        }
    }
}

impl std::fmt::Debug for Interner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interner")
            .field("len", &self.len())
            .finish()
    }
}

/// Every interner hashes ids alike, so a rebuilt one finds what the
/// original did.
fn id_hasher() -> foldhash::fast::FixedState {
    foldhash::fast::FixedState::default()
}

/// The shard comes from middle bits of the hash: hashbrown takes a bucket's
/// position from the low bits and its tag from the top 7, and fixing either
/// within a shard would make every probe a string comparison.
fn shard_of(hash: u64) -> usize {
    ((hash >> 40) as usize) & (SHARDS - 1)
}

impl Interner {
    pub fn new() -> Interner {
        Interner::default()
    }

    /// Rebuilds an interner from its strings in number order: `ids[n]` gets
    /// number `n`. Each shard is built on its own (in parallel) with its hash
    /// table sized up front, so restoring a million ids costs one hash and one
    /// probe each and no rehashing. The strings reach each shard in number
    /// order, so shard-local numbers, arenas and therefore
    /// [`Interner::truncate`] behave exactly as in the interner that
    /// assigned the numbers. Refuses a repeated string, which would break
    /// the one-number-per-id rule.
    pub fn from_distinct(ids: &[&str]) -> Result<Interner, FromDistinctError> {
        if ids.len() > u32::MAX as usize {
            return Err(InternError::TooMany.into());
        }
        let hasher = id_hasher();
        let hashes: Vec<u64> = ids
            .par_iter()
            .with_min_len(4096)
            .map(|id| hasher.hash_one(id))
            .collect();
        let mut numbers_per_shard: Vec<Vec<u32>> = vec![Vec::new(); SHARDS];
        let mut locations: Vec<u32> = Vec::with_capacity(ids.len());
        for (number, &hash) in hashes.iter().enumerate() {
            let shard_index = shard_of(hash);
            let numbers = &mut numbers_per_shard[shard_index];
            let local = numbers.len();
            if local > LOCAL_MASK as usize {
                return Err(InternError::TooMany.into());
            }
            locations.push((shard_index as u32) << LOCAL_BITS | local as u32);
            numbers.push(number as u32);
        }
        let shards: Vec<Shard> = numbers_per_shard
            .into_par_iter()
            .map(|globals| -> Result<Shard, FromDistinctError> {
                let arena_bytes: usize = globals.iter().map(|&n| ids[n as usize].len()).sum();
                if arena_bytes > ARENA_BYTES_MAX {
                    return Err(InternError::TooMany.into());
                }
                let mut arena = String::with_capacity(arena_bytes);
                let mut ends: Vec<u32> = Vec::with_capacity(globals.len());
                let mut table: HashTable<u32> = HashTable::with_capacity(globals.len());
                for &number in &globals {
                    let text = ids[number as usize];
                    let local = ends.len() as u32;
                    // One probe both detects a repeat and finds the free slot.
                    let entry = table.entry(
                        hashes[number as usize],
                        |&other| local_text(&arena, &ends, other) == text,
                        |&other| hasher.hash_one(local_text(&arena, &ends, other)),
                    );
                    match entry {
                        Entry::Occupied(occupied) => {
                            return Err(FromDistinctError::Duplicate {
                                number,
                                first: globals[*occupied.get() as usize],
                            });
                        }
                        Entry::Vacant(vacant) => {
                            vacant.insert(local);
                        }
                    }
                    arena.push_str(text);
                    ends.push(arena.len() as u32);
                }
                Ok(Shard {
                    arena,
                    ends,
                    table,
                    globals,
                })
            })
            .collect::<Result<_, FromDistinctError>>()?;
        Ok(Interner {
            shards,
            locations,
            hasher,
        })
    }

    pub fn len(&self) -> usize {
        self.locations.len()
    }

    pub fn is_empty(&self) -> bool {
        self.locations.is_empty()
    }

    /// The string of dense number `number`; panics if it was never assigned,
    /// which is a bug in the caller since numbers only come from this interner.
    pub fn resolve(&self, number: u32) -> &str {
        let location = self.locations[number as usize];
        self.shards[(location >> LOCAL_BITS) as usize].resolve(location & LOCAL_MASK)
    }

    fn hash(&self, text: &str) -> u64 {
        self.hasher.hash_one(text)
    }

    pub fn get(&self, text: &str) -> Option<u32> {
        let hash = self.hash(text);
        let shard = &self.shards[shard_of(hash)];
        shard
            .find(hash, text)
            .map(|local| shard.globals[local as usize])
    }

    /// The number of `text`, assigning the next one if it is new.
    pub fn intern(&mut self, text: &str) -> Result<u32, InternError> {
        let hash = self.hash(text);
        let shard_index = shard_of(hash);
        let shard = &mut self.shards[shard_index];
        if let Some(local) = shard.find(hash, text) {
            return Ok(shard.globals[local as usize]);
        }
        if self.locations.len() >= u32::MAX as usize || shard.full(text) {
            return Err(InternError::TooMany);
        }
        let local = shard.insert(hash, text, &self.hasher);
        let number = self.locations.len() as u32;
        shard.globals[local as usize] = number;
        self.locations
            .push((shard_index as u32) << LOCAL_BITS | local);
        Ok(number)
    }

    /// Interns many strings at once and appends their numbers to `numbers`;
    /// the numbers are the same as interning them one by one in order. On
    /// error nothing was added.
    pub fn intern_batch(
        &mut self,
        texts: &[&str],
        numbers: &mut Vec<u32>,
    ) -> Result<(), InternError> {
        let len_before = self.len();
        let hasher = self.hasher;
        let hashes: Vec<u64> = texts
            .par_iter()
            .with_min_len(4096)
            .map(|text| hasher.hash_one(text))
            .collect();
        // Copy each shard's inputs next to each other, so its lookups read
        // their inputs sequentially rather than gathering them from all over.
        let mut inputs: Vec<ShardInput> = (0..SHARDS).map(|_| ShardInput::default()).collect();
        for (item, (&hash, text)) in hashes.iter().zip(texts).enumerate() {
            let input = &mut inputs[shard_of(hash)];
            input.items.push(item as u32);
            input.hashes.push(hash);
            input.text.push_str(text);
            input.ends.push(input.text.len() as u32);
        }
        // Each shard resolves its items in order; a new string gets a local
        // number now and its global number once all shards are done.
        let shard_results: Vec<Result<ShardOutcome, InternError>> = self
            .shards
            .par_iter_mut()
            .zip(inputs.par_iter())
            .map(|(shard, input)| {
                let mut locals = Vec::with_capacity(input.items.len());
                let mut fresh: Vec<(u32, u32)> = Vec::new();
                let mut start = 0usize;
                for at in 0..input.items.len() {
                    let end = input.ends[at] as usize;
                    let text = &input.text[start..end];
                    start = end;
                    let hash = input.hashes[at];
                    let local = match shard.find(hash, text) {
                        Some(local) => local,
                        None => {
                            if shard.full(text) {
                                return Err(InternError::TooMany);
                            }
                            let local = shard.insert(hash, text, &hasher);
                            fresh.push((input.items[at], local));
                            local
                        }
                    };
                    locals.push(local);
                }
                Ok((locals, fresh))
            })
            .collect();
        drop(inputs);
        let mut locals_per_shard: Vec<Vec<u32>> = Vec::with_capacity(SHARDS);
        let mut fresh: Vec<(u32, u32, u32)> = Vec::new();
        let mut failed = false;
        for (shard_index, result) in shard_results.into_iter().enumerate() {
            match result {
                Ok((locals, shard_fresh)) => {
                    fresh.extend(
                        shard_fresh
                            .into_iter()
                            .map(|(item, local)| (item, shard_index as u32, local)),
                    );
                    locals_per_shard.push(locals);
                }
                Err(_) => {
                    failed = true;
                    locals_per_shard.push(Vec::new());
                }
            }
        }
        if failed || self.locations.len() + fresh.len() > u32::MAX as usize {
            // Undo the inserts: they are the shards' last locals.
            for shard in &mut self.shards {
                let keep = shard
                    .globals
                    .iter()
                    .position(|&global| global == u32::MAX)
                    .unwrap_or(shard.globals.len());
                truncate_shard(shard, keep);
            }
            debug_assert_eq!(self.len(), len_before);
            return Err(InternError::TooMany);
        }
        fresh.sort_unstable_by_key(|&(item, _, _)| item);
        for (_, shard_index, local) in fresh {
            let number = self.locations.len() as u32;
            self.shards[shard_index as usize].globals[local as usize] = number;
            self.locations.push(shard_index << LOCAL_BITS | local);
        }
        // Translate to global numbers shard by shard (cache-resident), then
        // merge the shards' streams back into input order.
        let globals_per_shard: Vec<Vec<u32>> = self
            .shards
            .par_iter()
            .zip(locals_per_shard.par_iter())
            .map(|(shard, locals)| {
                locals
                    .iter()
                    .map(|&local| shard.globals[local as usize])
                    .collect()
            })
            .collect();
        numbers.reserve(texts.len());
        let mut cursors = vec![0usize; SHARDS];
        for &hash in &hashes {
            let shard_index = shard_of(hash);
            numbers.push(globals_per_shard[shard_index][cursors[shard_index]]);
            cursors[shard_index] += 1;
        }
        Ok(())
    }

    /// Forgets every number from `len` on, so an aborted import leaves the
    /// interner exactly as it was.
    pub fn truncate(&mut self, len: usize) {
        if len >= self.len() {
            return;
        }
        for shard in &mut self.shards {
            // Global numbers grow with local numbers inside a shard.
            let keep = shard
                .globals
                .partition_point(|&global| (global as usize) < len);
            truncate_shard(shard, keep);
        }
        self.locations.truncate(len);
    }

    /// Approximate heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.locations.capacity() * 4 + self.shards.iter().map(Shard::heap_bytes).sum::<usize>()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.len() as u32).map(|number| self.resolve(number))
    }

    /// Whether both interners lay out their strings identically (shards,
    /// arenas, local and global numbers), which is what makes a rebuilt
    /// interner truncate and grow exactly like the original.
    #[cfg(test)]
    pub(crate) fn same_layout(&self, other: &Interner) -> bool {
        self.locations == other.locations
            && self.shards.len() == other.shards.len()
            && self.shards.iter().zip(&other.shards).all(|(mine, theirs)| {
                mine.arena == theirs.arena
                    && mine.ends == theirs.ends
                    && mine.globals == theirs.globals
                    && mine.table.len() == theirs.table.len()
            })
    }
}

fn truncate_shard(shard: &mut Shard, keep: usize) {
    if keep >= shard.ends.len() {
        return;
    }
    shard.table.retain(|local| (*local as usize) < keep);
    shard.ends.truncate(keep);
    shard.globals.truncate(keep);
    let arena_len = shard.ends.last().copied().unwrap_or(0) as usize;
    shard.arena.truncate(arena_len);
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

    #[test]
    fn batches_number_like_single_interning() {
        let texts: Vec<String> = (0..5000)
            .map(|i| format!("id{}", (i * 7919) % 1300))
            .collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let mut single = Interner::new();
        single.intern("id5").unwrap();
        let expect: Vec<u32> = refs
            .iter()
            .map(|text| single.intern(text).unwrap())
            .collect();
        let mut batched = Interner::new();
        batched.intern("id5").unwrap();
        let mut got = Vec::new();
        batched.intern_batch(&refs[..2000], &mut got).unwrap();
        batched.intern_batch(&refs[2000..], &mut got).unwrap();
        assert_eq!(got, expect);
        assert_eq!(batched.len(), single.len());
        for number in 0..single.len() as u32 {
            assert_eq!(batched.resolve(number), single.resolve(number));
            assert_eq!(batched.get(single.resolve(number)), Some(number));
        }
        batched.truncate(3);
        assert_eq!(batched.len(), 3);
        assert_eq!(batched.get(single.resolve(3)), None);
        assert_eq!(batched.get(single.resolve(2)), Some(2));
    }

    #[test]
    fn rebuilding_from_distinct_strings_keeps_numbers_and_layout() {
        let mut original = Interner::new();
        for i in 0..3000 {
            original
                .intern(&format!("id{}", (i * 7919) % 2100))
                .unwrap();
        }
        // A truncated interner must rebuild to the layout truncation left.
        original.truncate(1500);
        let ids: Vec<&str> = original.iter().collect();
        let mut rebuilt = Interner::from_distinct(&ids).unwrap();
        assert!(rebuilt.same_layout(&original));
        for (number, id) in ids.iter().enumerate() {
            assert_eq!(rebuilt.get(id), Some(number as u32));
        }
        assert_eq!(rebuilt.get("absent"), None);
        let mut grown = original.clone();
        for i in 0..500 {
            let id = format!("new{i}");
            assert_eq!(rebuilt.intern(&id), grown.intern(&id));
        }
        rebuilt.truncate(1700);
        grown.truncate(1700);
        assert!(rebuilt.same_layout(&grown));
    }

    #[test]
    fn rebuilding_refuses_a_repeated_string() {
        let check = |ids: &[&str], expect: Result<usize, FromDistinctError>| {
            let got = Interner::from_distinct(ids).map(|interner| interner.len());
            assert_eq!(got, expect, "ids={ids:?}");
        };
        check(&[], Ok(0));
        check(&["a", "b", ""], Ok(3));
        check(
            &["a", "b", "a"],
            Err(FromDistinctError::Duplicate {
                number: 2,
                first: 0,
            }),
        );
        check(
            &["x", "", "y", ""],
            Err(FromDistinctError::Duplicate {
                number: 3,
                first: 1,
            }),
        );
    }
}
