#!/usr/bin/env bash
# Screenshot a drill's report.html in headless Chromium, to see its charts as a
# person would.
#
#   scripts/screenshot-report.sh RUN_DIR|REPORT.html [OUT.png]
#       screenshots that report; OUT.png defaults to report.png beside it.
#   scripts/screenshot-report.sh
#       renders the passing and the failing sample drills of the report
#       package's tests into $TMPDIR/bcdr-report-samples and screenshots both,
#       and the sample plan validation (validation.html, bcdr validate).
#
# Needs chromium (Debian: apt-get update && apt-get install -y chromium).
set -euo pipefail

width_height=${BCDR_SCREENSHOT_SIZE:-1400,2400}

browser=""
for b in chromium chromium-browser google-chrome google-chrome-stable; do
	if command -v "$b" >/dev/null 2>&1; then browser=$b; break; fi
done
if [ -z "$browser" ]; then
	echo "screenshot-report: no chromium found; install it (apt-get update && apt-get install -y chromium)" >&2
	exit 1
fi

shoot() { # shoot REPORT.html OUT.png
	local html out flags=(--headless --disable-gpu --hide-scrollbars --window-size="$width_height")
	html=$(realpath "$1")
	out=$(realpath -m "$2")
	# Chromium refuses to run as root inside its sandbox.
	[ "$(id -u)" -eq 0 ] && flags+=(--no-sandbox)
	"$browser" "${flags[@]}" --screenshot="$out" "file://$html" >/dev/null 2>&1 || {
		echo "screenshot-report: $browser failed on $html" >&2
		return 1
	}
	[ -s "$out" ] || { echo "screenshot-report: no screenshot written for $html" >&2; return 1; }
	echo "$out"
}

if [ $# -eq 0 ]; then
	root=$(cd "$(dirname "$0")/.." && pwd)
	samples=${TMPDIR:-/tmp}/bcdr-report-samples
	rm -rf "$samples"
	mkdir -p "$samples"
	(cd "$root" && go test ./report/ -run 'TestReportHTML$|TestValidationFiles$' -count=1 -sample-dir="$samples" >/dev/null)
	for run in passing failing; do
		shoot "$samples/$run/report.html" "$samples/$run/report.png"
	done
	shoot "$samples/validation/validation.html" "$samples/validation/validation.png"
	exit 0
fi

target=$1
if [ -d "$target" ]; then
	if [ -f "$target/validation.html" ]; then target=$target/validation.html; else target=$target/report.html; fi
fi
[ -f "$target" ] || { echo "screenshot-report: no report at $1" >&2; exit 2; }
shoot "$target" "${2:-$(dirname "$target")/report.png}"
