"""Independent check of nexus-attest attestations (attestation_version "0.7").

Written from the specification in docs/governance-formats.md section 7, with the Python
standard library and `cryptography` (for Ed25519), so that attest's Rust implementation
can be compared with a second one.

  attestation_v07.py verify ATTESTATION.json
      Rebuilds the signed bytes of section 7.1 from the artifact's payload (constant
      version "0.7", claims sorted, attestor id and key_id only), verifies the hex
      signature with the raw Ed25519 public key in meta.public_key_hex, recomputes the
      attestation_id, and prints one JSON object:
        {"signed_bytes": ..., "signature_valid": bool, "attestation_id": ...,
         "attestation_id_match": bool, "ok": bool}
      Exit 0 when the signature is valid and the id matches, 1 otherwise.

  attestation_v07.py sign PACKAGE.json PRIVATE_KEY.pem OUT.json ATTESTOR_ID CLAIM...
      Signs an attestation of the package's integrity.binding_digest with a PKCS#8 PEM
      Ed25519 private key, key_id = the key's securesystemslib keyid, and writes the
      artifact of section 7.2 to OUT.json (as nexus-attest's create_attestation would,
      with attest's keyid).
"""

import hashlib
import json
import sys
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_private_key

ATTESTATION_VERSION = "0.7"


def canonical_bytes(value):
    """Sorted keys, no whitespace, non-ASCII written as UTF-8, NaN/Infinity refused."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8")


def signed_bytes(payload):
    """Section 7.1: rebuilt with the constant version, not the payload's own field."""
    return canonical_bytes(
        {
            "attestation_version": ATTESTATION_VERSION,
            "binding_digest": payload["binding_digest"],
            "claims": sorted(payload["claims"]),
            "attestor": {"id": payload["attestor"]["id"], "key_id": payload["attestor"]["key_id"]},
            "signed_at": payload["signed_at"],
        }
    )


def attestation_id(signature):
    return "att_" + hashlib.sha256(signature).hexdigest()[:16]


def keyid(public_hex):
    """securesystemslib's default keyid of an Ed25519 key."""
    key = {"keytype": "ed25519", "keyval": {"public": public_hex}, "scheme": "ed25519"}
    return hashlib.sha256(canonical_bytes(key)).hexdigest()


def verify(path):
    with open(path, encoding="utf-8") as f:
        artifact = json.load(f)
    message = signed_bytes(artifact["payload"])
    public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(artifact["meta"]["public_key_hex"]))
    signature = bytes.fromhex(artifact["signature"])
    try:
        public.verify(signature, message)
        valid = True
    except InvalidSignature:
        valid = False
    recomputed = attestation_id(signature)
    result = {
        "signed_bytes": message.decode("utf-8"),
        "signature_valid": valid,
        "attestation_id": recomputed,
        "attestation_id_match": recomputed == artifact["attestation_id"],
    }
    result["ok"] = result["signature_valid"] and result["attestation_id_match"]
    print(json.dumps(result, ensure_ascii=False))
    return 0 if result["ok"] else 1


def sign(package_path, key_path, out_path, attestor_id, claims):
    with open(package_path, encoding="utf-8") as f:
        package = json.load(f)
    with open(key_path, "rb") as f:
        private = load_pem_private_key(f.read(), password=None)
    public_hex = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    payload = {
        "attestation_version": ATTESTATION_VERSION,
        "binding_digest": package["integrity"]["binding_digest"],
        "claims": sorted(claims),
        "attestor": {"id": attestor_id, "key_id": keyid(public_hex)},
        "signed_at": datetime.now(UTC).isoformat(),
    }
    signature = private.sign(signed_bytes(payload))
    artifact = {
        "attestation_id": attestation_id(signature),
        "payload": payload,
        "signature": signature.hex(),
        "meta": {"public_key_hex": public_hex},
    }
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(artifact, f, indent=2, ensure_ascii=False)
    print(artifact["attestation_id"])
    return 0


def main(argv):
    if len(argv) == 2 and argv[0] == "verify":
        return verify(argv[1])
    if len(argv) >= 6 and argv[0] == "sign":
        return sign(argv[1], argv[2], argv[3], argv[4], argv[5:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
