#!/bin/sh
# Tests for dist/hello; prints a report, exits non-zero on the first failure.
set -e
check() {
    expected="$1"; shift
    actual="$(./dist/hello "$@")"
    if [ "$actual" != "$expected" ]; then
        echo "FAIL: hello $* printed '$actual', expected '$expected'" >&2
        exit 1
    fi
    echo "ok: hello $*"
}
check "Hello, world!"
check "Hello, attest!" attest
check "hello $(cat VERSION)" -v
