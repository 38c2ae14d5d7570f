#!/usr/bin/env bash
# One compile-fail case: check.sh <expected regex> <compiler> <args...>
# Passes if the compiler rejects the case and its messages match the regex (extended grep);
# the regex "-" means the case must compile (CASE 0, the harness check).
expect=$1
shift
out=$("$@" 2>&1)
rc=$?
if [ "$expect" = "-" ]; then
    [ "$rc" -eq 0 ] && { echo "compiles, as it must"; exit 0; }
    printf '%s\n' "$out" | head -60
    echo "FAIL: this case must compile (include paths or flags wrong?)"
    exit 1
fi
if [ "$rc" -eq 0 ]; then
    echo "FAIL: compiled, but must be rejected with: $expect"
    exit 1
fi
if printf '%s\n' "$out" | grep -qE -- "$expect"; then
    echo "rejected, as it must be, with: $(printf '%s\n' "$out" | grep -E -m1 -o -- "$expect")"
    exit 0
fi
printf '%s\n' "$out" | head -80
echo "FAIL: rejected, but not with: $expect"
exit 1
