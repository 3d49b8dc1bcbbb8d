"""Interoperability of attest receipts with the standard Python DSSE implementation
(securesystemslib) and JSON Schema validator (jsonschema). Driven by tests/it/interop.rs.

  verify RECEIPT PUBLIC_PEM KEYID      securesystemslib verifies every envelope with our
                                       public key (and its keyid is ours); a tampered
                                       payload is rejected.
  sign RECEIPT PRIVATE_PEM OUT MODE    re-signs line 1's payload with securesystemslib;
                                       MODE standard or urlsafe (unpadded URL-safe base64).
  schema SCHEMA_DIR RECEIPT            every envelope and statement validates against
                                       attest's published JSON Schemas.
"""

import base64
import json
import sys

from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key
from securesystemslib.dsse import Envelope
from securesystemslib.exceptions import VerificationError
from securesystemslib.signer import CryptoSigner, SSlibKey


def lines(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def verify(receipt, public_pem, keyid):
    with open(public_pem, "rb") as f:
        key = SSlibKey.from_crypto(load_pem_public_key(f.read()))
    assert key.keyid == keyid, f"securesystemslib computes keyid {key.keyid}, attest {keyid}"
    envelopes = lines(receipt)
    for data in envelopes:
        Envelope.from_dict(json.loads(json.dumps(data))).verify([key], 1)
    tampered = Envelope.from_dict(json.loads(json.dumps(envelopes[0])))
    tampered.payload = tampered.payload.replace(b'"succeeded"', b'"SUCCEEDED"', 1)
    assert tampered.payload != Envelope.from_dict(json.loads(json.dumps(envelopes[0]))).payload
    try:
        tampered.verify([key], 1)
    except VerificationError:
        pass
    else:
        raise AssertionError("securesystemslib accepted a tampered payload")
    print(f"verified {len(envelopes)} envelopes; tampered payload rejected")


def sign(receipt, private_pem, out, mode):
    with open(private_pem, "rb") as f:
        signer = CryptoSigner(load_pem_private_key(f.read(), password=None))
    first = Envelope.from_dict(lines(receipt)[0])
    envelope = Envelope(first.payload, first.payload_type, {})
    envelope.sign(signer)
    data = envelope.to_dict()
    if mode == "urlsafe":
        recode = lambda text: base64.urlsafe_b64encode(base64.b64decode(text)).decode().rstrip("=")
        data["payload"] = recode(data["payload"])
        for signature in data["signatures"]:
            signature["sig"] = recode(signature["sig"])
    with open(out, "w", encoding="utf-8") as f:
        f.write(json.dumps(data) + "\n")
    print(f"signed by {signer.public_key.keyid} ({mode})")


def schema(schema_dir, receipt):
    import jsonschema

    with open(f"{schema_dir}/dsse-envelope.schema.json", encoding="utf-8") as f:
        envelope_schema = json.load(f)
    with open(f"{schema_dir}/receipt-statement.schema.json", encoding="utf-8") as f:
        statement_schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(envelope_schema)
    jsonschema.Draft202012Validator.check_schema(statement_schema)
    count = 0
    for data in lines(receipt):
        jsonschema.validate(data, envelope_schema, cls=jsonschema.Draft202012Validator)
        statement = json.loads(base64.b64decode(data["payload"]))
        jsonschema.validate(statement, statement_schema, cls=jsonschema.Draft202012Validator)
        count += 1
    broken = json.loads(base64.b64decode(lines(receipt)[0]["payload"]))
    del broken["predicate"]["buildDefinition"]
    try:
        jsonschema.validate(broken, statement_schema, cls=jsonschema.Draft202012Validator)
    except jsonschema.ValidationError:
        pass
    else:
        raise AssertionError("the statement schema accepted a statement without buildDefinition")
    print(f"{count} envelopes and statements valid")


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"verify": verify, "sign": sign, "schema": schema}[command](*args)
