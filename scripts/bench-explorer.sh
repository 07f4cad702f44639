#!/usr/bin/env bash
# Times every page of `hollow serve` on the demo's movies dataset (1,000,000 movies by default):
# two cycles (the second updates ~1%, removes ~0.5% and adds ~0.5% of the movies), then each
# page and API endpoint fetched with curl, once the explorer has computed the facets and the
# diff of the new version in the background (its log says how long that took): the first
# request (cold for everything else: the type-filtered diff, histories, delta counts, a pinned
# version) and the median of the next five (warm).
#
#   cargo build --release -p hollow-cli && scripts/bench-explorer.sh [MOVIES]
#
# HOLLOW names the binary (default target/release/hollow). Prints a Markdown table.
set -euo pipefail
MOVIES=${1:-1000000}
HOLLOW=${HOLLOW:-target/release/hollow}
DIR=$(mktemp -d)
PID=""
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$DIR"' EXIT

"$HOLLOW" demo --movies "$MOVIES" --cycles 2 --upserts 0 --dir "$DIR/movies" >/dev/null
"$HOLLOW" serve --store "$DIR/movies" --bind 127.0.0.1:0 2>"$DIR/serve.log" &
PID=$!
while ! grep -q '^listening on ' "$DIR/serve.log"; do
  kill -0 "$PID" || { cat "$DIR/serve.log"; exit 1; }
  sleep 0.1
done
URL=$(sed -n 's/^listening on //p' "$DIR/serve.log" | head -1)
# The explorer computes each new version's facets and the diff from the previous version in
# the background: report how long that took, then time the pages.
while ! grep -q 'diff from the previous version computed' "$DIR/serve.log"; do
  kill -0 "$PID" || { cat "$DIR/serve.log"; exit 1; }
  sleep 0.1
done
echo "background work per version: $(grep -o 'version computed.*' "$DIR/serve.log" | head -1)"
echo
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
MOVIE=$(curl -sf "$URL/api/types/Movie?limit=1" | json 'd["records"][0]["id"]')
ACTOR=$(curl -sf "$URL/api/types/Actor?limit=1" | json 'd["records"][0]["id"]')
# Changes are listed added, removed, then changed: skip to the first changed movie.
SKIP=$(curl -sf "$URL/api/diff?from=1&to=2&type=Movie&limit=1" | json 'd["types"][0]["added"] + d["types"][0]["removed"]')
CHANGED=$(curl -sf "$URL/api/diff?from=1&to=2&type=Movie&limit=1&after=$SKIP" | json 'd["records"][0]["key"][0]')
TITLE=$(curl -sf "$URL/api/types/Movie/record?key=$CHANGED" |
  python3 -c 'import json,sys,urllib.parse; print(urllib.parse.quote("title=" + json.load(sys.stdin)["title"]))')

time_of() { curl -s -o /dev/null -w '%{http_code} %{time_total} %{size_download}\n' "$URL$1"; }

echo "| page | path | status | first (ms) | warm median (ms) | bytes |"
echo "|---|---|---|---:|---:|---:|"
page() {
  local name=$1 path=$2 first warm=() status bytes
  read -r status first bytes < <(time_of "$path")
  for _ in 1 2 3 4 5; do warm+=("$(time_of "$path" | cut -d' ' -f2)"); done
  local median
  median=$(printf '%s\n' "${warm[@]}" | sort -n | sed -n 3p)
  printf '| %s | `%s` | %s | %.1f | %.1f | %s |\n' "$name" "$path" "$status" \
    "$(echo "$first * 1000" | bc -l)" "$(echo "$median * 1000" | bc -l)" "$bytes"
}
page "Home" "/"
page "Home (JSON)" "/api"
page "Type, 50 records + facets" "/types/Movie"
page "Type (JSON), 50 records" "/api/types/Movie"
page "Next page (cursor)" "/types/Movie?after=500000"
page "Facets genres + castIds (JSON)" "/api/types/Movie/facets"
page "Indexed filter genres=Drama" "/types/Movie?where=genres%3DDrama"
page "Indexed filter castIds (JSON)" "/api/types/Movie?where=castIds%3D$ACTOR"
page "Scanned filter title=… (one match)" "/types/Movie?where=$TITLE"
page "Record" "/types/Movie/record?key=$MOVIE"
page "Record (JSON)" "/api/types/Movie/record?key=$MOVIE"
page "Related record + back-links" "/types/Actor/record?key=$ACTOR"
page "History of a changed record" "/types/Movie/history?key=$CHANGED"
page "Diff 1 → 2, first page" "/diff?from=1&to=2"
page "Diff 1 → 2 (JSON), page 10" "/api/diff?from=1&to=2&after=500"
page "Pinned version 1 (opens a state)" "/types/Movie?version=1"
page "Metrics" "/metrics"
