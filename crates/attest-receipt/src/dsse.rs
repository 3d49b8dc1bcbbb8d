//! DSSE envelopes (<https://github.com/secure-systems-lab/dsse>, protocol v1).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};

use crate::{KeyPair, PublicKey};

/// The payload type of in-toto statements.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// The DSSE pre-authentication encoding: `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP
/// body`, lengths as ASCII decimal byte counts. Signatures cover these bytes, never the
/// base64 text, so a verifier cannot be tricked by re-encoding.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + payload_type.len() + 32);
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

/// An envelope line written while its payload is still being produced: the payload's
/// base64 goes out piece by piece (the pieces need not be multiples of three bytes), and
/// the signature, which needs the whole payload, comes last.
pub(crate) struct EnvelopeWriter<W: std::io::Write> {
    out: W,
    /// Payload bytes not yet encoded: fewer than three.
    carry: Vec<u8>,
    /// Room for the base64 of a payload part, kept from part to part.
    encoded: Vec<u8>,
}

impl<W: std::io::Write> EnvelopeWriter<W> {
    /// Writes the line's start.
    pub(crate) fn start(mut out: W) -> std::io::Result<Self> {
        out.write_all(b"{\"payload\":\"")?;
        Ok(Self { out, carry: Vec::with_capacity(3), encoded: Vec::new() })
    }

    /// Writes the base64 of the next `bytes` of the payload. Base64 encodes groups of
    /// three bytes: a group that `bytes` leaves unfinished waits for the next call.
    pub(crate) fn payload(&mut self, mut bytes: &[u8]) -> std::io::Result<()> {
        if !self.carry.is_empty() {
            let take = (3 - self.carry.len()).min(bytes.len());
            self.carry.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.carry.len() < 3 {
                return Ok(());
            }
            let mut group = [0; 4];
            STANDARD.encode_slice(&self.carry, &mut group).expect("four bytes hold a group's base64");
            self.out.write_all(&group)?;
            self.carry.clear();
        }
        let whole = bytes.len() / 3 * 3;
        self.encoded.resize(whole / 3 * 4, 0);
        STANDARD.encode_slice(&bytes[..whole], &mut self.encoded).expect("the output is sized for its base64");
        self.out.write_all(&self.encoded)?;
        self.carry.extend_from_slice(&bytes[whole..]);
        Ok(())
    }

    /// Ends the line: the last payload bytes, the type and, for `signed` (the whole
    /// payload and the key), the signature. Returns the writer.
    pub(crate) fn finish(mut self, signed: Option<(&[u8], &KeyPair)>) -> std::io::Result<W> {
        self.out.write_all(STANDARD.encode(&self.carry).as_bytes())?;
        self.out.write_all(b"\",\"payloadType\":")?;
        serde_json::to_writer(&mut self.out, PAYLOAD_TYPE)?;
        self.out.write_all(b",\"signatures\":")?;
        let signatures = signed.map_or_else(Vec::new, |(payload, key)| Envelope::sign(payload, Some(key)));
        serde_json::to_writer(&mut self.out, &signatures)?;
        self.out.write_all(b"}\n")?;
        Ok(self.out)
    }
}

/// Decodes base64 in any of the forms DSSE implementations emit: standard or URL-safe
/// alphabet, padded or not.
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    [&STANDARD, &URL_SAFE, &STANDARD_NO_PAD, &URL_SAFE_NO_PAD].iter().find_map(|engine| engine.decode(text).ok())
}

/// One signature of an envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeSignature {
    /// Which key signed (may be empty in envelopes from other tools).
    #[serde(default)]
    pub keyid: String,
    /// Base64 of the Ed25519 signature over the PAE.
    pub sig: String,
}

/// A DSSE envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "DSSE envelope (one line of an attest receipt)")]
pub struct Envelope {
    /// Base64 of the payload.
    pub payload: String,
    /// What the payload is.
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    /// Signatures over the PAE (empty for an unsigned receipt).
    pub signatures: Vec<EnvelopeSignature>,
}

/// An envelope that is not well-formed.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// Not JSON of the envelope shape.
    #[error("not a DSSE envelope")]
    Json(#[source] serde_json::Error),
    /// The payload is not base64.
    #[error("the payload is not valid base64")]
    PayloadEncoding,
}

impl Envelope {
    /// An envelope around `payload`, signed by `key` when given.
    pub fn new(payload: &[u8], key: Option<&KeyPair>) -> Self {
        Self {
            payload: STANDARD.encode(payload),
            payload_type: PAYLOAD_TYPE.to_owned(),
            signatures: Self::sign(payload, key),
        }
    }

    /// The signatures of an in-toto `payload`: one by `key`, or none.
    fn sign(payload: &[u8], key: Option<&KeyPair>) -> Vec<EnvelopeSignature> {
        key.map(|key| EnvelopeSignature {
            keyid: key.public().keyid().to_owned(),
            sig: STANDARD.encode(key.sign(&pae(PAYLOAD_TYPE, payload))),
        })
        .into_iter()
        .collect()
    }

    /// Writes the envelope of `payload` (signed by `key` when given) as one JSON line
    /// (newline included), byte for byte what [`Envelope::to_line`] gives, but streaming
    /// the base64 instead of building it in memory first.
    pub fn write_line(out: &mut impl std::io::Write, payload: &[u8], key: Option<&KeyPair>) -> std::io::Result<()> {
        let mut line = EnvelopeWriter::start(out)?;
        line.payload(payload)?;
        line.finish(key.map(|key| (payload, key))).map(|_| ())
    }

    /// Parses one JSON line.
    pub fn parse(line: &str) -> Result<Self, EnvelopeError> {
        serde_json::from_str(line).map_err(EnvelopeError::Json)
    }

    /// The decoded payload.
    pub fn payload_bytes(&self) -> Result<Vec<u8>, EnvelopeError> {
        decode_base64(&self.payload).ok_or(EnvelopeError::PayloadEncoding)
    }

    /// The JSON Schema of envelopes.
    pub fn json_schema() -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(Envelope)).expect("a schema serialises to JSON")
    }

    /// The envelope as one line of compact JSON.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("an envelope serialises to JSON")
    }

    /// Whether signature `index` is a valid signature of `key` over this envelope's PAE.
    pub fn verify_signature(&self, index: usize, key: &PublicKey) -> bool {
        let (Some(signature), Ok(payload)) = (self.signatures.get(index), self.payload_bytes()) else { return false };
        let Some(sig) = decode_base64(&signature.sig) else { return false };
        key.verify(&pae(&self.payload_type, &payload), &sig)
    }
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn pae_matches_the_specification_example() {
        // From the DSSE protocol document.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
    }

    #[test]
    fn sign_and_verify_and_tamper() {
        let key = KeyPair::generate().unwrap();
        let envelope = Envelope::new(br#"{"a":1}"#, Some(&key));
        assert!(envelope.verify_signature(0, key.public()));
        let mut tampered = envelope.clone();
        tampered.payload = STANDARD.encode(br#"{"a":2}"#);
        assert!(!tampered.verify_signature(0, key.public()));
        let other = KeyPair::generate().unwrap();
        assert!(!envelope.verify_signature(0, other.public()));
        let mut streamed = Vec::new();
        Envelope::write_line(&mut streamed, br#"{"a":1}"#, Some(&key)).unwrap();
        assert_eq!(String::from_utf8(streamed).unwrap(), envelope.to_line() + "\n");
        let mut unsigned = Vec::new();
        Envelope::write_line(&mut unsigned, b"x", None).unwrap();
        assert_eq!(String::from_utf8(unsigned).unwrap(), Envelope::new(b"x", None).to_line() + "\n");
        let parsed = Envelope::parse(&envelope.to_line()).unwrap();
        assert_eq!(parsed, envelope);
        assert!(Envelope::new(b"x", None).signatures.is_empty());
    }

    proptest! {
        /// PAE is injective over (type, body): different inputs never encode alike.
        #[test]
        fn pae_is_injective(a in ".{0,12}", b in proptest::collection::vec(any::<u8>(), 0..24), c in ".{0,12}", d in proptest::collection::vec(any::<u8>(), 0..24)) {
            prop_assume!((a.as_str(), &b) != (c.as_str(), &d));
            prop_assert_ne!(pae(&a, &b), pae(&c, &d));
        }

        /// Base64 written piece by piece, cut anywhere, is the base64 of the whole.
        #[test]
        fn a_payload_written_in_any_pieces_is_encoded_as_one(
            bytes in proptest::collection::vec(any::<u8>(), 0..200),
            cuts in proptest::collection::vec(0usize..200, 0..8),
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
            cuts.extend([0, bytes.len()]);
            cuts.sort_unstable();
            let pieces: Vec<&[u8]> = cuts.windows(2).map(|w| &bytes[w[0]..w[1]]).collect();
            let mut line = EnvelopeWriter::start(Vec::new()).unwrap();
            for piece in pieces {
                line.payload(piece).unwrap();
            }
            let mut expected = Vec::new();
            Envelope::write_line(&mut expected, &bytes, None).unwrap();
            prop_assert_eq!(line.finish(None).unwrap(), expected.clone());
            prop_assert_eq!(String::from_utf8(expected).unwrap(), Envelope::new(&bytes, None).to_line() + "\n");
        }

        /// Every base64 form decodes to the same bytes.
        #[test]
        fn base64_forms_agree(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            for engine in [&STANDARD, &URL_SAFE, &STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
                prop_assert_eq!(decode_base64(&engine.encode(&bytes)), Some(bytes.clone()));
            }
        }
    }
}
