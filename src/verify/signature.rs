use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::Signature;

use super::VerifyError;

/// Most entries examined in one `webhook-signature` header. A sender rotating
/// keys sends two or three; a header with more is refused before any
/// cryptography runs, so hostile input cannot buy unbounded work.
pub const MAX_SIGNATURE_ENTRIES: usize = 16;

/// Most `v1a` (Ed25519) entries examined in one header; later ones are
/// ignored. HMAC entries are cheap (one MAC per secret, however many
/// entries), but each `v1a` entry is checked against every candidate key and
/// each check hashes the whole body. A sender rotating keys sends two.
pub const MAX_V1A_ENTRIES: usize = 2;

/// Most Ed25519 verifications one delivery may cost (`v1a` entries × keys
/// tried, static keys and JWKS keys together): enough for one entry against
/// Google's three keys (no key id is sent), and a forged delivery costs at
/// most this many times a genuine one. Beyond it, the delivery is refused.
pub const MAX_ED25519_VERIFICATIONS: usize = 4;

/// A validated `webhook-signature` header whose entries decode on demand.
///
/// Parsing checks the shape once (at most [`MAX_SIGNATURE_ENTRIES`] entries,
/// each `version,base64`) without storing or decoding anything; the
/// iterators then decode only the entries of the version being checked.
/// Entries of unknown versions, and known versions whose base64 does not
/// decode to the right length, are skipped: they cannot verify, and a newer
/// sender may add versions we do not know.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SignatureEntries<'a> {
    header: &'a [u8],
    has_v1: bool,
    has_v1a: bool,
}

impl<'a> SignatureEntries<'a> {
    pub(crate) fn parse(header: &'a str) -> Result<Self, VerifyError> {
        let invalid = |reason| VerifyError::InvalidHeader {
            header: "webhook-signature",
            reason,
        };
        let header = header.as_bytes();
        let mut count = 0;
        let (mut has_v1, mut has_v1a) = (false, false);
        for entry in entries(header) {
            count += 1;
            if count > MAX_SIGNATURE_ENTRIES {
                return Err(invalid("more than 16 signature entries"));
            }
            let (version, _) =
                split_entry(entry).ok_or(invalid("an entry is not `version,base64`"))?;
            has_v1 |= version == b"v1";
            has_v1a |= version == b"v1a";
        }
        if count == 0 {
            return Err(invalid("no signature entries"));
        }
        Ok(Self {
            header,
            has_v1,
            has_v1a,
        })
    }

    /// The base64 parts of the entries of one version.
    fn version(&self, wanted: &'static [u8]) -> impl Iterator<Item = &'a [u8]> + use<'a> {
        entries(self.header).filter_map(move |entry| {
            let (version, encoded) = split_entry(entry)?;
            (version == wanted).then_some(encoded)
        })
    }

    /// Whether any `v1` entry is present.
    pub(crate) fn has_v1(&self) -> bool {
        self.has_v1
    }

    /// Whether any `v1a` entry is present.
    pub(crate) fn has_v1a(&self) -> bool {
        self.has_v1a
    }

    /// The `v1` entries as sent (base64), to compare with [`encode_tag`].
    pub(crate) fn v1_encoded(&self) -> impl Iterator<Item = &'a [u8]> + use<'a> {
        self.version(b"v1")
    }

    /// The `v1a` Ed25519 signatures that decode to 64 bytes, of the first
    /// [`MAX_V1A_ENTRIES`] `v1a` entries.
    pub(crate) fn v1a(&self) -> impl Iterator<Item = Signature> + use<'a> {
        self.version(b"v1a")
            .take(MAX_V1A_ENTRIES)
            .filter_map(decode::<64>)
            .map(|raw| Signature::from_bytes(&raw))
    }
}

// Plain byte loops: for a header this short, `str` pattern searching costs
// more than the search itself.
fn entries(header: &[u8]) -> impl Iterator<Item = &[u8]> {
    header
        .split(|&b| b == b' ')
        .filter(|entry| !entry.is_empty())
}

/// `version,base64` → `(version, base64)`.
fn split_entry(entry: &[u8]) -> Option<(&[u8], &[u8])> {
    let comma = entry.iter().position(|&b| b == b',')?;
    Some((&entry[..comma], &entry[comma + 1..]))
}

/// Length of a base64-encoded HMAC-SHA256 tag: 44 characters, padded.
pub(crate) const ENCODED_TAG_LEN: usize = 44;

/// An HMAC-SHA256 tag in standard padded base64, as `v1` entries carry it.
pub(crate) fn encode_tag(tag: &[u8; 32]) -> [u8; ENCODED_TAG_LEN] {
    let mut encoded = [0u8; ENCODED_TAG_LEN];
    // 32 bytes always encode to exactly 44 characters.
    let _ = STANDARD.encode_slice(tag, &mut encoded);
    encoded
}

/// Decodes standard base64 to exactly `N` bytes, or `None`.
fn decode<const N: usize>(encoded: &[u8]) -> Option<[u8; N]> {
    // Room for one extra byte, so an over-long value shows as a length
    // mismatch rather than a silent truncation; a value too long for the
    // buffer is refused by `decode_slice` before it decodes anything.
    let mut buffer = [0u8; 96];
    let len = STANDARD.decode_slice(encoded, &mut buffer).ok()?;
    buffer.get(..len)?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_entries_and_refuses_beyond_the_cap() {
        let sixteen = vec!["v9,AAAA"; 16].join(" ");
        assert!(SignatureEntries::parse(&sixteen).is_ok());
        let seventeen = vec!["v9,AAAA"; 17].join(" ");
        assert_eq!(
            SignatureEntries::parse(&seventeen).unwrap_err(),
            VerifyError::InvalidHeader {
                header: "webhook-signature",
                reason: "more than 16 signature entries"
            }
        );
    }

    #[test]
    fn v1_entries_are_given_as_sent_and_others_skipped() {
        let tag = STANDARD.encode([7u8; 32]);
        let header = format!(
            "v1,{tag} v2,{tag} v1,not*base64 v1,{} v1,",
            STANDARD.encode([1u8; 31])
        );
        let entries = SignatureEntries::parse(&header).unwrap();
        assert_eq!(
            entries.v1_encoded().collect::<Vec<_>>(),
            vec![
                tag.as_bytes(),
                b"not*base64",
                STANDARD.encode([1u8; 31]).as_bytes(),
                b""
            ]
        );
        assert_eq!(entries.v1a().count(), 0);
    }

    #[test]
    fn decode_checks_exact_length() {
        assert_eq!(
            decode::<32>(STANDARD.encode([1u8; 32]).as_bytes()),
            Some([1u8; 32])
        );
        assert_eq!(decode::<32>(STANDARD.encode([1u8; 33]).as_bytes()), None);
        assert_eq!(decode::<32>(STANDARD.encode([1u8; 90]).as_bytes()), None);
        assert_eq!(decode::<64>("A".repeat(4000).as_bytes()), None);
    }
}
