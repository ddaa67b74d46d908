#!/bin/sh
# The API documents must list exactly the routes of the route table:
#   - every row of src/server/http/routes.c is an operation of docs/openapi.yaml
#     with the same method, path and kind of authentication (none, device
#     signature, admin bearer), and appears as `METHOD PATH` in docs/API.md;
#   - every operation of docs/openapi.yaml is a row of routes.c.
# Plain sh/sed/awk (no node, no YAML library): it relies on the layout of
# openapi.yaml, paths at two spaces, methods at four, `security:` inside the
# operation followed by its scheme, which the file keeps. ROUTES, OPENAPI
# and APIDOC override the files (to check this script on broken copies).
ROUTES=${ROUTES:-src/server/http/routes.c}
OPENAPI=${OPENAPI:-docs/openapi.yaml}
APIDOC=${APIDOC:-docs/API.md}
passed=0
failed=0
ok() { echo "ok $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }

for f in "$ROUTES" "$OPENAPI" "$APIDOC"; do
    if [ ! -r "$f" ]; then
        echo "FAIL cannot read $f"
        echo "# 0 passed, 1 failed"
        exit 1
    fi
done

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

# "METHOD PATH AUTH" per row of the table, e.g. GET /v1/balance device
sed -n 's/^[[:space:]]*{"\([A-Z]*\)", "\([^"]*\)", [a-z_0-9]*, \(DC_R_[A-Z_]*\).*/\1 \2 \3/p' \
    "$ROUTES" |
    sed -e 's/ DC_R_PUBLIC$/ public/' -e 's/ DC_R_DEVICE$/ device/' \
        -e 's/ DC_R_SELF_SIGNED$/ device/' -e 's/ DC_R_ADMIN$/ admin/' |
    sort >"$tmp/code"
# the table's rows, counted independently of the pattern above
rows=$(grep -c '^[[:space:]]*{ *"[A-Z][A-Z]*" *,' "$ROUTES")
if [ "$rows" -gt 0 ] && [ "$rows" -eq "$(wc -l <"$tmp/code")" ]; then
    ok "routes.c: $rows routes parsed"
else
    fail "routes.c: $rows rows but $(wc -l <"$tmp/code") parsed (changed layout?)"
fi

# "METHOD PATH AUTH" per operation of openapi.yaml
awk '
    /^paths:/ { inpaths = 1; next }
    /^[^ #]/ { if (inpaths) flush(); inpaths = 0 }
    !inpaths { next }
    /^  \/[^ ]*:[[:space:]]*$/ { flush(); path = $1; sub(/:$/, "", path); next }
    /^    (get|put|post|delete|patch|head|options|trace):/ {
        flush(); m = $1; sub(/:$/, "", m); method = toupper(m); auth = "?"; sec = 0; next
    }
    method != "" && /^      security:/ {
        if ($0 ~ /\[\]/) auth = "public"; else sec = 1; next
    }
    method != "" && sec && /adminBearer/ { auth = "admin"; sec = 0 }
    method != "" && sec && /deviceKey/ && /deviceTime/ && /deviceNonce/ && /deviceSignature/ {
        auth = "device"; sec = 0
    }
    function flush() { if (method != "") print method, path, auth; method = "" }
    END { flush() }
' "$OPENAPI" | sort >"$tmp/spec"

while read -r method path auth; do
    if grep -qx "$method $path $auth" "$tmp/spec"; then
        ok "openapi.yaml has $method $path ($auth)"
    elif grep -q "^$method $path " "$tmp/spec"; then
        fail "openapi.yaml has $method $path with auth '$(grep "^$method $path " "$tmp/spec" |
            cut -d' ' -f3)', routes.c says $auth"
    else
        fail "openapi.yaml lacks $method $path (in routes.c)"
    fi
    # `METHOD PATH` or `METHOD PATH?query...`, not a longer path
    if grep -qF -e "\`$method $path\`" -e "\`$method $path?" "$APIDOC"; then
        ok "API.md documents $method $path"
    else
        fail "API.md lacks \`$method $path\` (in routes.c)"
    fi
done <"$tmp/code"

while read -r method path auth; do
    if ! grep -q "^$method $path " "$tmp/code"; then
        fail "openapi.yaml has $method $path, which routes.c does not serve"
    fi
done <"$tmp/spec"

echo "# $passed passed, $failed failed"
[ "$failed" -eq 0 ]
