"""Independent check of nexus-attest audit packages (package_version "0.6").

Written from the specification in docs/governance-formats.md, with the Python standard
library only, so that attest's Rust implementation can be compared with a second one.

  audit_package_v06.py PACKAGE.json
      Recomputes control_router_link_digest, control_digest, router_digest and
      binding_digest, compares each with every place the package stores it, and prints
      one JSON object:
        {"control_router_link_digest": ..., "control_digest": ..., "router_digest": ...,
         "binding_digest": ..., "matches": {...}, "verification": {...}}
      "verification" is the report nexus-attest's own verifier would give (same check
      names, order, and fields). Exit 0 when every match holds, 1 otherwise (also when
      the file cannot be read or holds a value that has no canonical form).

  audit_package_v06.py --example OUT.json
      Writes a hand-built, self-consistent example package (reference mode) to OUT.json
      and prints its binding digest.

  audit_package_v06.py --example-embedded OUT.json
      The same decision, with the router section in embedded mode.
"""

import copy
import hashlib
import json
import sys

PACKAGE_VERSION = "0.6"
BUNDLE_VERSION = "0.5"
PREFIX = "sha256:"


# ---------------------------------------------------------------------------
# Canonical JSON and digests (spec section 1)
# ---------------------------------------------------------------------------


def canonical_bytes(value):
    """Sorted keys, no whitespace, non-ASCII written as UTF-8, NaN/Infinity refused."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8")


def raw_digest(value):
    """Lowercase hex SHA-256 of the canonical bytes, no prefix."""
    return hashlib.sha256(canonical_bytes(value)).hexdigest()


def strip_prefix(text):
    if isinstance(text, str) and text.startswith(PREFIX):
        return text[len(PREFIX):]
    return text


# ---------------------------------------------------------------------------
# Control bundle projection (spec section 3.3): what the control digest covers
# ---------------------------------------------------------------------------


def _project_decision(decision):
    return {
        "decision_id": decision["decision_id"],
        "goal": decision.get("goal"),
        "mode": decision.get("mode", "dry_run"),
        "created_at": decision["created_at"],
        "status": decision["status"],
    }


def _project_event(event):
    return {
        "event_id": event["event_id"],
        "decision_id": event["decision_id"],
        "seq": event["seq"],
        "type": event["type"],
        "payload": event.get("payload", {}),
        "ts": event["ts"],
        "actor": event.get("actor", {}),
        "digest": event.get("digest", ""),
    }


def _project_template_snapshot(snapshot):
    if not snapshot.get("present", False):
        return {"present": False}
    return {
        "present": True,
        "name": snapshot.get("name"),
        "digest": snapshot.get("digest"),
        "snapshot": snapshot.get("snapshot"),
        "overrides": snapshot.get("overrides"),
    }


def _project_router_link(link):
    link = link or {}
    fields = ("run_id", "adapter_id", "router_request_digest", "router_result_digest", "control_router_link_digest")
    return {name: link[name] for name in fields if link.get(name) is not None}


def control_payload(bundle):
    """The object whose canonical form the control digest hashes (no integrity, provenance, meta)."""
    return {
        "bundle_version": bundle.get("bundle_version", BUNDLE_VERSION),
        "decision": _project_decision(bundle["decision"]),
        "events": [_project_event(e) for e in bundle.get("events", [])],
        "template_snapshot": _project_template_snapshot(bundle.get("template_snapshot", {"present": False})),
        "router_link": _project_router_link(bundle.get("router_link")),
    }


def control_digest(bundle):
    return raw_digest(control_payload(bundle))


def link_digest(decision_id, run_id, request_digest_raw, result_digest_raw):
    """control_router_link_digest over raw hex digests (None when there was no run)."""
    if run_id is None:
        return None
    return raw_digest(
        {
            "decision_id": decision_id,
            "run_id": run_id,
            "router_request_digest": request_digest_raw,
            "router_result_digest": result_digest_raw,
        }
    )


def link_digest_from_bundle(bundle):
    link = _project_router_link(bundle.get("router_link"))
    return link_digest(
        bundle["decision"]["decision_id"],
        link.get("run_id"),
        strip_prefix(link.get("router_request_digest")),
        strip_prefix(link.get("router_result_digest")),
    )


def router_section_digest(router):
    """binding.router_digest as the router section states it (never recomputed by nexus-attest)."""
    mode = router.get("mode")
    if mode == "embedded" and router.get("bundle") is not None:
        integrity = router["bundle"].get("integrity")
        return integrity.get("canonical_digest") if isinstance(integrity, dict) else None
    if mode == "reference" and router.get("ref"):
        return router["ref"].get("digest")
    return None


def binding_digest(package_version, control, router, link):
    """All three inputs sha256:-prefixed, exactly as stored in the binding section."""
    return raw_digest(
        {
            "package_version": package_version,
            "control_digest": control,
            "router_digest": router,
            "control_router_link_digest": link,
        }
    )


# ---------------------------------------------------------------------------
# nexus-attest's verification report (spec section 5)
# ---------------------------------------------------------------------------


def _check(name, ok, expected=None, actual=None, detail=None):
    out = {"name": name, "ok": ok}
    if not ok:
        if expected is not None:
            out["expected"] = expected
        if actual is not None:
            out["actual"] = actual
    if detail is not None:
        out["detail"] = detail
    return out


def verification_report(package):
    checks = []
    version = package.get("package_version", PACKAGE_VERSION)
    binding = package["binding"]
    bundle = package["control_bundle"]
    router = package["router"]

    stored = package["integrity"]["binding_digest"]
    again = binding_digest(version, binding["control_digest"], binding["router_digest"], binding["control_router_link_digest"])
    checks.append(_check("binding_digest", again == strip_prefix(stored), stored, PREFIX + again,
                         "binding digest recomputed from the binding section"))

    stored = bundle["integrity"]["canonical_digest"]
    again = control_digest(bundle)
    checks.append(_check("control_bundle_digest", again == strip_prefix(stored), stored, PREFIX + again,
                         "control bundle digest recomputed from its content"))

    stored = bundle["integrity"]["canonical_digest"]
    checks.append(_check("binding_control_match", binding["control_digest"] == stored, stored, binding["control_digest"],
                         "binding.control_digest equals control_bundle.integrity.canonical_digest"))

    section = router_section_digest(router)
    checks.append(_check("binding_router_match", section is not None and binding["router_digest"] == section, section,
                         binding["router_digest"], "binding.router_digest equals the router section's digest"))

    in_bundle = (bundle.get("router_link") or {}).get("control_router_link_digest")
    checks.append(_check("binding_link_match", in_bundle is not None and binding["control_router_link_digest"] == in_bundle,
                         in_bundle, binding["control_router_link_digest"],
                         "binding.control_router_link_digest equals the control bundle's router link"))

    if router.get("mode") == "embedded" and router.get("bundle") is not None:
        integrity = router["bundle"].get("integrity")
        has = isinstance(integrity, dict) and "canonical_digest" in integrity
        checks.append(_check("router_digest", has, detail="embedded router bundle carries integrity.canonical_digest"))

    return {
        "ok": all(c["ok"] for c in checks),
        "checks": checks,
        "passed": sum(1 for c in checks if c["ok"]),
        "failed": sum(1 for c in checks if not c["ok"]),
        "total": len(checks),
    }


# ---------------------------------------------------------------------------
# Recompute and compare
# ---------------------------------------------------------------------------


def check_package(package):
    version = package.get("package_version", PACKAGE_VERSION)
    bundle = package["control_bundle"]
    binding = package["binding"]
    link_in_bundle = (bundle.get("router_link") or {})

    control = PREFIX + control_digest(bundle)
    link_raw = link_digest_from_bundle(bundle)
    link = PREFIX + link_raw if link_raw is not None else None
    router = router_section_digest(package["router"])
    bound = PREFIX + binding_digest(version, control, router, link)

    matches = {
        # recomputed control digest against both places that store it
        "control_digest=control_bundle.integrity.canonical_digest":
            strip_prefix(control) == strip_prefix(bundle["integrity"]["canonical_digest"]),
        "control_digest=binding.control_digest": control == binding["control_digest"],
        # recomputed link digest (raw hex inputs) against both places that store it
        "control_router_link_digest=control_bundle.router_link.control_router_link_digest":
            link is not None and link == link_in_bundle.get("control_router_link_digest"),
        "control_router_link_digest=binding.control_router_link_digest":
            link is not None and link == binding["control_router_link_digest"],
        # router digest stated by the router section against the binding
        "router_digest=binding.router_digest": router is not None and router == binding["router_digest"],
        # binding digest over the recomputed inputs against the stored one
        "binding_digest=integrity.binding_digest":
            strip_prefix(bound) == strip_prefix(package["integrity"]["binding_digest"]),
        "package_version=0.6": version == PACKAGE_VERSION,
    }
    if package["router"].get("mode") == "reference" and package["router"].get("ref"):
        matches["router.ref.run_id=control_bundle.router_link.run_id"] = (
            package["router"]["ref"].get("run_id") == link_in_bundle.get("run_id")
        )

    report = verification_report(package)
    result = {
        "control_router_link_digest": link,
        "control_digest": control,
        "router_digest": router,
        "binding_digest": bound,
        "matches": matches,
        "verification": report,
    }
    ok = all(matches.values()) and report["ok"]
    return result, ok


# ---------------------------------------------------------------------------
# A hand-built example (made-up values, self-consistent)
# ---------------------------------------------------------------------------


def _event(decision_id, seq, kind, ts, actor, payload):
    return {
        "event_id": f"evt_{decision_id}_{seq}",
        "decision_id": decision_id,
        "seq": seq,
        "type": kind,
        "payload": payload,
        "ts": ts,
        "actor": actor,
        # per-event digest: type and payload only, raw hex
        "digest": raw_digest({"event_type": kind, "payload": payload}),
    }


def example_package(embedded=False):
    decision_id = "0b7e2f1a-4c3d-4e5f-9a8b-7c6d5e4f3a21"
    owner = {"type": "human", "id": "maria"}
    system = {"type": "system", "id": "nexus-control"}

    template = {
        "name": "release-gate",
        "description": "Two people sign off a release build",
        "min_approvals": 2,
        "allowed_modes": ["dry_run", "apply"],
        "require_adapter_capabilities": [],
        "max_steps": 12,
        "labels": ["release"],
        "created_at": "2025-03-10T08:00:00+00:00",
        "created_by": {"type": "human", "id": "platform"},
    }
    template_digest = raw_digest(template)
    template_snapshot = {
        "template_name": template["name"],
        "template_description": template["description"],
        "min_approvals": template["min_approvals"],
        "allowed_modes": template["allowed_modes"],
        "require_adapter_capabilities": template["require_adapter_capabilities"],
        "max_steps": template["max_steps"],
        "labels": template["labels"],
    }
    overrides = {"max_steps": 20}

    goal = "Publier la version 2.4 «stable»"
    plan = "build\ntest\npublish"
    labels = ["release"]
    router_request = {"goal": goal, "adapter_id": "attest:run", "dry_run": False, "plan": plan, "max_steps": 20}
    request_raw = raw_digest(router_request)
    run_id = "run-7d41c0de"
    router_response = {"run_id": run_id, "status": "succeeded", "steps_executed": 3}
    result_raw = raw_digest(router_response)

    events = [
        _event(decision_id, 0, "DECISION_CREATED", "2025-03-11T09:15:02.118204+00:00", owner,
               {"goal": goal, "plan": plan, "requested_mode": "apply", "labels": labels}),
        _event(decision_id, 1, "POLICY_ATTACHED", "2025-03-11T09:15:02.120511+00:00", owner,
               {"min_approvals": 2, "allowed_modes": ["dry_run", "apply"], "require_adapter_capabilities": [],
                "max_steps": 20, "labels": labels, "template_name": template["name"],
                "template_snapshot": template_snapshot, "template_digest": template_digest,
                "overrides_applied": overrides}),
        _event(decision_id, 2, "APPROVAL_GRANTED", "2025-03-11T10:02:40+00:00", {"type": "human", "id": "jonas"},
               {"expires_at": "2025-03-12T10:02:40+00:00", "comment": "checked the diff"}),
        _event(decision_id, 3, "APPROVAL_GRANTED", "2025-03-11T10:30:11.500000+00:00", {"type": "human", "id": "lea"},
               {"expires_at": None}),
        _event(decision_id, 4, "EXECUTION_REQUESTED", "2025-03-11T11:00:00.000321+00:00", {"type": "system", "id": "ci"},
               {"adapter_id": "attest:run", "dry_run": False}),
        _event(decision_id, 5, "EXECUTION_STARTED", "2025-03-11T11:00:00.004100+00:00", system,
               {"router_request_digest": request_raw}),
        _event(decision_id, 6, "EXECUTION_COMPLETED", "2025-03-11T11:04:31.777000+00:00", system,
               {"run_id": run_id, "response_digest": result_raw, "steps_executed": 3}),
    ]

    link_raw = link_digest(decision_id, run_id, request_raw, result_raw)
    bundle = {
        "bundle_version": BUNDLE_VERSION,
        "decision": {"decision_id": decision_id, "goal": goal, "mode": "apply",
                     "created_at": events[0]["ts"], "status": "COMPLETED"},
        "events": events,
        "template_snapshot": {"present": True, "name": template["name"], "digest": PREFIX + template_digest,
                              "snapshot": template_snapshot, "overrides": overrides},
        "router_link": {"run_id": run_id, "adapter_id": "attest:run",
                        "router_request_digest": PREFIX + request_raw, "router_result_digest": PREFIX + result_raw,
                        "control_router_link_digest": PREFIX + link_raw},
    }
    bundle_raw = control_digest(bundle)
    bundle["integrity"] = {"alg": "sha256", "canonical_digest": PREFIX + bundle_raw}
    bundle["provenance"] = {"records": [{
        "prov_id": "prov_" + hashlib.sha256(f"{decision_id}:{bundle_raw}".encode()).hexdigest()[:12],
        "method_id": "nexus-control.export_v0_5",
        "inputs": [f"decision:{decision_id}"],
        "outputs": [f"bundle:sha256:{bundle_raw}"],
    }]}
    bundle["meta"] = {"exported_at": "2025-03-11T12:00:00.000001+00:00"}

    router_digest = PREFIX + result_raw
    if embedded:
        router = {"mode": "embedded", "bundle": {
            "run_id": run_id,
            "response": router_response,
            "integrity": {"alg": "sha256", "canonical_digest": router_digest},
        }}
    else:
        router = {"mode": "reference", "ref": {"run_id": run_id, "digest": router_digest}}

    binding = {"control_digest": PREFIX + bundle_raw, "router_digest": router_digest,
               "control_router_link_digest": PREFIX + link_raw}
    bound_raw = binding_digest(PACKAGE_VERSION, binding["control_digest"], binding["router_digest"],
                               binding["control_router_link_digest"])
    return {
        "package_version": PACKAGE_VERSION,
        "control_bundle": bundle,
        "router": router,
        "binding": binding,
        "integrity": {"alg": "sha256", "binding_digest": PREFIX + bound_raw},
        "provenance": {"records": [{
            "prov_id": "prov_" + hashlib.sha256(f"{decision_id}:{bound_raw}".encode()).hexdigest()[:12],
            "method_id": "nexus-control.audit_export_v0_6",
            "inputs": [f"decision:{decision_id}"],
            "outputs": [f"audit_package:sha256:{bound_raw}"],
        }]},
        "meta": {"exported_at": "2025-03-11T12:00:00.000002+00:00"},
    }


# ---------------------------------------------------------------------------


def main(argv):
    if len(argv) == 2 and argv[0] in ("--example", "--example-embedded"):
        package = example_package(embedded=argv[0] == "--example-embedded")
        with open(argv[1], "w", encoding="utf-8") as f:
            json.dump(package, f, ensure_ascii=False, indent=2)
            f.write("\n")
        print(package["integrity"]["binding_digest"])
        return 0
    if len(argv) != 1 or argv[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        with open(argv[0], encoding="utf-8") as f:
            package = json.load(f)
        result, ok = check_package(package)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        print(json.dumps({"error": f"{type(error).__name__}: {error}"}))
        return 1
    print(json.dumps(result, ensure_ascii=False, indent=2, sort_keys=True))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
