use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::Signature;

use super::VerifyError;

/// Most entries examined in one `webhook-signature` header. A sender rotating
/// keys sends two or three; a header with more is refused before any
/// cryptography runs, so hostile input cannot buy unbounded work.
pub const MAX_SIGNATURE_ENTRIES: usize = 16;

/// One decoded, recognised entry of a `webhook-signature` header.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SignatureEntry {
    /// `v1,`: a 32-byte HMAC-SHA256 tag.
    V1([u8; 32]),
    /// `v1a,`: a 64-byte Ed25519 signature.
    V1a(Signature),
}

/// The recognised entries of a signature header, decoded to bytes.
///
/// Entries of unknown versions, and known versions whose base64 does not
/// decode to the right length, are skipped: they cannot verify, and a newer
/// sender may add versions we do not know.
#[derive(Debug)]
pub(crate) struct SignatureEntries {
    entries: [Option<SignatureEntry>; MAX_SIGNATURE_ENTRIES],
}

impl SignatureEntries {
    pub(crate) fn parse(header: &str) -> Result<Self, VerifyError> {
        let invalid = |reason| VerifyError::InvalidHeader {
            header: "webhook-signature",
            reason,
        };
        let mut entries = [None; MAX_SIGNATURE_ENTRIES];
        let mut count = 0;
        for entry in header.split(' ').filter(|entry| !entry.is_empty()) {
            let slot = entries
                .get_mut(count)
                .ok_or(invalid("more than 16 signature entries"))?;
            count += 1;
            let (version, encoded) = entry
                .split_once(',')
                .ok_or(invalid("an entry is not `version,base64`"))?;
            *slot = match version {
                "v1" => decode::<32>(encoded).map(SignatureEntry::V1),
                "v1a" => decode::<64>(encoded).map(|raw| SignatureEntry::V1a(Signature::from_bytes(&raw))),
                _ => None,
            };
        }
        if count == 0 {
            return Err(invalid("no signature entries"));
        }
        Ok(Self { entries })
    }

    /// The recognised entries, in header order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &SignatureEntry> {
        self.entries.iter().flatten()
    }

    /// The `v1` HMAC tags.
    pub(crate) fn v1(&self) -> impl Iterator<Item = &[u8; 32]> {
        self.iter().filter_map(|entry| match entry {
            SignatureEntry::V1(tag) => Some(tag),
            SignatureEntry::V1a(_) => None,
        })
    }

    /// The `v1a` Ed25519 signatures.
    pub(crate) fn v1a(&self) -> impl Iterator<Item = &Signature> {
        self.iter().filter_map(|entry| match entry {
            SignatureEntry::V1a(signature) => Some(signature),
            SignatureEntry::V1(_) => None,
        })
    }
}

/// Decodes standard base64 to exactly `N` bytes, or `None`.
fn decode<const N: usize>(encoded: &str) -> Option<[u8; N]> {
    // Room for one extra byte, so an over-long value shows as a length
    // mismatch rather than a silent truncation.
    let mut buffer = [0u8; 96];
    if encoded.len() > 128 {
        return None;
    }
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
    fn skips_undecodable_and_unknown_entries() {
        let tag = STANDARD.encode([7u8; 32]);
        let header = format!("v1,{tag} v2,{tag} v1,not*base64 v1,{} v1,", STANDARD.encode([1u8; 31]));
        let entries = SignatureEntries::parse(&header).unwrap();
        assert_eq!(entries.v1().collect::<Vec<_>>(), vec![&[7u8; 32]]);
        assert_eq!(entries.v1a().count(), 0);
    }

    #[test]
    fn decode_checks_exact_length() {
        assert_eq!(decode::<32>(&STANDARD.encode([1u8; 32])), Some([1u8; 32]));
        assert_eq!(decode::<32>(&STANDARD.encode([1u8; 33])), None);
        assert_eq!(decode::<32>(&STANDARD.encode([1u8; 90])), None);
        assert_eq!(decode::<64>(&"A".repeat(4000)), None);
    }
}
