//! The one hash verify and sync fingerprint rows with: a leaf, so the
//! readers that hash rows (`verify::stream`), the comparison
//! (`verify::compare`) and `sync` share it without importing each other.

/// A 64-bit hash of bytes: XXH3, several times faster than std's SipHash
/// on short rows, and the same on every platform and in every version, so
/// `sync` can keep these fingerprints in the target between runs.
pub fn hash_of(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}
