use std::time::Duration;

use super::*;

/// `case!(name, yaml, [messages...])`: the pipeline fails with exactly these messages, as
/// `line:column: message`.
macro_rules! rejects {
    ($name:ident, $yaml:expr, [$($expected:expr),* $(,)?]) => {
        #[test]
        fn $name() {
            let errors = Pipeline::parse("attest.yaml", $yaml).unwrap_err();
            let got: Vec<String> = errors
                .errors()
                .iter()
                .map(|e| match e.location {
                    Some(l) => format!("{}:{}: {}", l.line, l.column, e.message),
                    None => e.message.clone(),
                })
                .collect();
            let expected: Vec<&str> = vec![$($expected),*];
            assert_eq!(got, expected, "\n{}", errors.render($yaml));
        }
    };
}

const GOOD: &str = r#"
version: "0.1"
name: demo
env: { MODE: release }
cache: { max_size: "1GB", compression: true, retention_days: 7 }
steps:
  gen:
    run: ./gen.sh
    inputs: ["gen.sh", "templates/**", "!templates/*.bak"]
    outputs: [build/gen]
  compile:
    run: make
    needs: [gen]
    outputs: [build/app]
    env: { MODE: debug, CC: gcc }
    timeout: 10m
    shell: bash
  test:
    run: make test
    needs: [compile]
    inputs: []
    cache: false
"#;

#[test]
fn a_good_pipeline() {
    let pipeline = Pipeline::parse("attest.yaml", GOOD).unwrap();
    let names: Vec<&str> = pipeline.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["gen", "compile", "test"]);
    let compile = &pipeline.steps[1];
    assert_eq!(compile.needs, [0]);
    assert_eq!(compile.env.get("MODE").map(String::as_str), Some("debug"));
    assert_eq!(compile.shell, ["bash", "-c"]);
    assert_eq!(compile.timeout, Some(Duration::from_secs(600)));
    assert_eq!(pipeline.steps[0].shell, ["sh", "-c"]);
    assert_eq!(pipeline.steps[2].inputs, Some(vec![]));
    assert!(!pipeline.steps[2].cache);
    assert_eq!(
        pipeline.cache,
        CacheSettings { enabled: true, max_size: Some(1_000_000_000), compression: true, retention_days: Some(7) }
    );
    assert_eq!(pipeline.graph().topological_order(), [0, 1, 2]);
}

rejects!(
    unknown_keys_everywhere_with_suggestions,
    "version: \"0.1\"\nstepz: {}\nsteps:\n  a:\n    run: x\n    ouputs: [o]\n    needs: [b]\n",
    [
        "2:1: unknown key `stepz` in the top level",
        "6:5: unknown key `ouputs` in step `a`",
        "7:13: step `a` needs `b`, which is not a step",
    ]
);

rejects!(
    missing_required_keys,
    "version: \"0.1\"\nstep:\n  a: { needs: [] }\n",
    ["1:1: the top level is missing `steps`", "2:1: unknown key `step` in the top level",]
);

rejects!(
    wrong_types_are_all_reported,
    "version: \"0.1\"\nsteps:\n  a:\n    run: [x]\n    needs: b\n    cache: maybe\n",
    [
        "4:10: `steps.a.run` must be a string, found a list",
        "5:12: `steps.a.needs` must be a list, found a string",
        "6:12: `steps.a.cache` must be true or false, found a string",
    ]
);

rejects!(
    unknown_needs_and_cycles,
    "version: \"0.1\"\nsteps:\n  a: { run: x, needs: [b] }\n  b: { run: x, needs: [a] }\n  c: { run: x, needs: [bb] }\n",
    ["3:3: steps form a cycle: a -> b -> a", "5:24: step `c` needs `bb`, which is not a step",]
);

rejects!(
    paths_that_escape,
    "version: \"0.1\"\nsteps:\n  a:\n    run: x\n    inputs: [../secret, /etc/passwd]\n    outputs: [\"dist/*\", ../out]\n    working_dir: /tmp\n",
    [
        "5:14: invalid pattern `../secret`: `../secret` leaves the workspace",
        "5:25: invalid pattern `/etc/passwd`: `/etc/passwd` is absolute; paths in attest are relative to the workspace root",
        "6:15: output `dist/*` is a pattern",
        "6:25: output `../out` leaves the workspace",
        "7:18: `working_dir` `/tmp` is absolute",
    ]
);

rejects!(
    empty_run_and_overlapping_outputs,
    "version: \"0.1\"\nsteps:\n  a: { run: \"  \", outputs: [dist] }\n  b: { run: x, outputs: [dist/app] }\n",
    ["3:13: step `a` has an empty `run`", "4:26: output `dist/app` of step `b` overlaps output `dist` of step `a`",]
);

rejects!(
    vm_images_need_vm_steps_and_absolute_paths,
    "version: \"0.1\"\nsteps:\n  a: { run: x, isolation: vm, vm_image: { kernel: boot/vmlinuz } }\n  b: { run: x, vm_image: { kernel: /boot/vmlinuz } }\n  c: { run: x, isolation: vm, vm_image: { kernel: /boot/vmlinuz, initramfs: /x/../y } }\n",
    [
        "3:51: `vm_image.kernel` `boot/vmlinuz` of step `a` is not absolute",
        "4:26: step `b` sets `vm_image`, which needs `isolation: vm`",
        "5:77: `vm_image.initramfs` `/x/../y` of step `c` contains `.` or `..`",
    ]
);

rejects!(
    container_images_must_be_pinned_by_digest,
    "version: \"0.1\"\nsteps:\n  a: { run: x, isolation: container, image: \"node:18\" }\n  b: { run: x, isolation: container }\n  c: { run: x, image: \"node@sha256:abc\" }\n  d: { run: x, isolation: container, image: \"node@sha256:abc\" }\n",
    [
        "3:45: image `node:18` of step `a` is not pinned by digest",
        "4:27: step `b` has `isolation: container` but no `image`",
        "5:23: step `c` sets `image`, which needs `isolation: container`",
        "6:45: image `node@sha256:abc` of step `d` has a malformed digest `sha256:abc`",
    ]
);

rejects!(
    event_handlers_are_checked,
    "version: \"0.1\"\nevents:\n  handlers:\n    - { type: file, path: ../out.log, events: [step.finished] }\n    - { type: webhook, url: \"ftp://x\" }\n    - { type: file, path: e.log, retries: 2 }\n    - { type: webhook, url: \"http://127.0.0.1:1/h\", secret_env: 9X, timeout: soon, events: [\"deploy.*\"] }\nsteps:\n  a: { run: x }\n",
    [
        "4:27: `../out.log` leaves the workspace",
        "4:48: unknown event type `step.finished`",
        "5:7: a webhook handler needs an http(s) `url`",
        "6:34: `retries` applies to webhook handlers only",
        "7:65: `9X` is not a valid variable name in `secret_env`",
        "7:78: `timeout` of an event handler: `soon` is not a duration",
        "7:93: unknown event type `deploy.*`",
    ]
);

#[test]
fn event_handlers_are_kept_with_defaults() {
    let source = "version: \"0.1\"\nevents:\n  handlers:\n    - { type: file, path: events.jsonl }\n    - { type: webhook, url: \"https://example.com/h\", events: [\"step.*\", cache.miss], secret_env: HOOK_KEY, timeout: 2s, retries: 1, required: true }\nsteps:\n  a: { run: x }\n";
    let pipeline = Pipeline::parse("attest.yaml", source).expect("valid");
    assert_eq!(pipeline.events.len(), 2);
    let file = &pipeline.events[0];
    assert_eq!(file.events, ["*"]);
    assert!(file.wants("pipeline.started") && !file.required);
    let hook = &pipeline.events[1];
    assert!(hook.wants("step.failed") && hook.wants("cache.miss") && !hook.wants("cache.hit"));
    assert_eq!((hook.timeout, hook.retries, hook.required), (Duration::from_secs(2), 1, true));
    assert_eq!(hook.secret_env.as_deref(), Some("HOOK_KEY"));
}

rejects!(
    secrets_come_from_the_host,
    "version: \"0.1\"\nenv: { TOKEN: x }\nsecrets: [TOKEN, 9bad]\nsteps:\n  a: { run: x, secrets: [OK], tools: [\"gcc -v\"] }\n",
    [
        "3:11: secret `TOKEN` is also set in `env`",
        "3:18: `9bad` is not a valid variable name in `secrets`",
        "5:39: tool `gcc -v` of step `a` is not a command name",
    ]
);

#[test]
fn attestation_settings_secrets_and_tools_are_kept() {
    let pipeline = Pipeline::parse(
        "attest.yaml",
        "version: \"0.1\"\nattestation: { sign_all_steps: true, verify_dependencies: true, scan_outputs: true }\nsecrets: [A]\nsteps:\n  s: { run: x, secrets: [B, A], tools: [gcc] }\n",
    )
    .unwrap();
    assert!(pipeline.attestation.sign_all_steps && pipeline.attestation.verify_dependencies);
    assert!(pipeline.attestation.scan_outputs);
    assert_eq!(pipeline.steps[0].secrets, ["A", "B"]);
    assert_eq!(pipeline.steps[0].tools, ["gcc"]);
}

rejects!(
    sandbox_system_paths_are_absolute_host_paths,
    "version: \"0.1\"\nsteps:\n  a:\n    run: x\n    isolation: sandbox\n    sandbox: { system_paths: [etc/ssl, /opt/../etc, /, /tmp/cache], mounts: [] }\n",
    [
        "6:31: `sandbox.system_paths` entry `etc/ssl` of step `a` is not absolute",
        "6:40: `sandbox.system_paths` entry `/opt/../etc` of step `a` contains `.` or `..`",
        "6:53: `sandbox.system_paths` entry `/` of step `a` would show the whole host",
        "6:56: `sandbox.system_paths` entry `/tmp/cache` of step `a` is inside `/tmp`, which the sandbox provides itself",
        "6:69: unknown key `mounts` in `steps.a.sandbox`",
    ]
);

#[test]
fn sandbox_steps_are_accepted_with_their_system_paths() {
    let pipeline = Pipeline::parse(
        "attest.yaml",
        "version: \"0.1\"\nsteps:\n  a: { run: x, isolation: sandbox, sandbox: { system_paths: [/etc/ssl/, /opt/tool, /etc/ssl] } }\n  b: { run: y }\n",
    )
    .unwrap();
    assert_eq!(pipeline.steps[0].isolation, Isolation::Sandbox);
    assert_eq!(pipeline.steps[0].sandbox.system_paths, ["/etc/ssl", "/opt/tool"]);
    assert_eq!(pipeline.steps[1].isolation, Isolation::Process);
    let mut overridden = pipeline.clone();
    overridden.set_isolation(Isolation::Sandbox);
    assert!(overridden.steps.iter().all(|s| s.isolation == Isolation::Sandbox));
}

rejects!(
    unknown_isolation,
    "version: \"0.1\"\nsteps:\n  b: { run: x, isolation: docker }\n",
    ["3:27: `steps.b.isolation` must be one of process, sandbox, container, vm; found `docker`",]
);

rejects!(
    units_and_versions,
    "version: \"2\"\ncache: { max_size: lots, retention_days: 0 }\nsteps:\n  a: { run: x, timeout: \"10\" }\n",
    [
        "1:10: unsupported pipeline version `2`",
        "2:20: `cache.max_size`: `lots` is not a size",
        "2:42: `cache.retention_days` must be at least 1",
        "4:25: `timeout` of step `a`: `10` has no unit",
    ]
);

rejects!(
    numbers_where_strings_belong,
    "version: \"0.1\"\nsteps:\n  a: { run: x, timeout: 10, env: { PORT: 8080 } }\n",
    [
        "3:25: `steps.a.timeout` must be a string, found an integer",
        "3:42: `steps.a.env.PORT` must be a string, found an integer",
    ]
);

rejects!(
    bad_timeout_text,
    "version: \"0.1\"\nsteps:\n  b: { run: x, timeout: forever }\n",
    ["3:25: `timeout` of step `b`: `forever` is not a duration",]
);

rejects!(
    yaml_syntax_and_duplicates,
    "version: \"0.1\"\nsteps:\n  a: { run: x }\n  a: { run: y }\n",
    ["4:3: invalid YAML: duplicate mapping key: a",]
);

rejects!(empty_file, "", ["the pipeline file is empty"]);

#[test]
fn unknown_key_hint_suggests_the_right_key() {
    let errors = Pipeline::parse("attest.yaml", "version: \"0.1\"\nsteps:\n  build:\n    run: x\n    ouputs: [o]\n")
        .unwrap_err();
    let rendered = errors.render("version: \"0.1\"\nsteps:\n  build:\n    run: x\n    ouputs: [o]\n");
    assert_eq!(
        rendered,
        "error: unknown key `ouputs` in step `build`\n --> attest.yaml:5:5\n  |\n5 |     ouputs: [o]\n  |     ^^^^^^\n  = hint: did you mean `outputs`?\n\nerror: attest.yaml has 1 problem\n"
    );
}

#[test]
fn the_schema_uses_only_what_the_checker_understands() {
    fn walk(value: &serde_json::Value, in_properties: bool, out: &mut Vec<String>) {
        if let serde_json::Value::Object(map) = value {
            for (k, v) in map {
                if !in_properties && k != "$defs" && !crate::schema_check::UNDERSTOOD_KEYWORDS.contains(&k.as_str()) {
                    out.push(k.clone());
                }
                walk(v, k == "properties" || k == "$defs", out);
            }
        } else if let serde_json::Value::Array(items) = value {
            for item in items {
                walk(item, false, out);
            }
        }
    }
    let mut unknown = Vec::new();
    walk(&json_schema(), false, &mut unknown);
    assert!(unknown.is_empty(), "schema keywords the checker ignores: {unknown:?}");
}

proptest::proptest! {
    /// No input makes the parser panic (the fuzz target explores this further).
    #[test]
    fn never_panics(source in "\\PC{0,200}") {
        let _ = Pipeline::parse("attest.yaml", &source);
    }

    #[test]
    fn never_panics_on_yaml_shaped_input(lines in proptest::collection::vec("( {0,4})(version|steps|run|needs|outputs|inputs|a|b|-)(: )?(\\[|\\{|\"0.1\"|x|a|b|\\]|\\})?", 0..12)) {
        let _ = Pipeline::parse("attest.yaml", &lines.join("\n"));
    }
}

#[test]
fn a_cached_parse_is_reused_only_for_the_same_file() {
    let (first, bytes) = Pipeline::parse_cached("attest.yaml", GOOD, None).unwrap();
    let bytes = bytes.unwrap();
    let (second, fresh) = Pipeline::parse_cached("attest.yaml", GOOD, Some(&bytes)).unwrap();
    assert!(fresh.is_none(), "the cache was used");
    assert_eq!(first.steps, second.steps);
    assert_eq!(first.graph(), second.graph());
    let edited = GOOD.replace("make test", "make check");
    let (third, fresh) = Pipeline::parse_cached("attest.yaml", &edited, Some(&bytes)).unwrap();
    assert!(fresh.is_some());
    assert_eq!(third.steps[2].run, "make check");
    assert!(Pipeline::parse_cached("attest.yaml", "version: 1", Some(&bytes)).is_err());
    let (_, fresh) = Pipeline::parse_cached("attest.yaml", GOOD, Some(b"garbage")).unwrap();
    assert!(fresh.is_some());
}

/// The schema a cached parse is keyed by is the one the types give (as printed by
/// `attest pipeline schema`): a changed schema invalidates every cached parse.
#[test]
fn the_cache_key_uses_the_schema_of_the_types() {
    let generated = serde_json::to_string_pretty(&json_schema()).unwrap();
    assert_eq!(CHECKED_IN_SCHEMA.trim_end(), generated, "regenerate schemas/attest.schema.json");
}
