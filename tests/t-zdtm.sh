#!/usr/bin/env bash
# CRIU's own memory and fork zdtm tests (scripts/zdtm-run holds the lists) on
# baseline and on the dedup build, which has COW dedup on by default, in the
# host flavor and in the namespace flavor (whose restore inserts helper tasks
# and reparents children): every test passes on each variant, nothing that
# passes on baseline fails on dedup in either flavor, and the dedup dumps
# really skipped COW-shared pages.
. "$(dirname "$0")/lib.sh"

root=$COWDUMP_ROOT
logs=$root/build/zdtm-logs

# stat_sum VARIANT WHICH FIELD: FIELD summed over the decoded stats-WHICH of
# every test of the last run of VARIANT (0 when absent).
stat_sum() {
	cat "$logs/$1"/*/stats-"$2".json 2>/dev/null |
		jq -s "[.[].entries[0].\"$2\".$3 // 0] | add // 0"
}

declare -A result
mkdir -p "$logs"
for flavor in h ns; do
	sfx=; [ "$flavor" = ns ] && sfx=-ns
	for v in baseline dedup; do
		start=$SECONDS
		if ! "$root/scripts/zdtm-run" --flavor $flavor $v >"$logs/$v$sfx.out" 2>&1 &&
			[ ! -s "$logs/$v$sfx/results.tsv" ]; then
			fail "zdtm $v ($flavor) runs" "$(tail -n 3 "$logs/$v$sfx.out")"
			continue
		fi
		echo "zdtm $v ($flavor) took $((SECONDS - start)) s"
		while IFS=$'\t' read -r name res secs why; do
			result[$flavor/$v/$name]=$res
			if [ "$res" = pass ]; then
				pass "zdtm $v ($flavor) $name"
			else
				fail "zdtm $v ($flavor) $name" "$why (logs: build/zdtm-logs/$v$sfx/${name//\//_})"
			fi
		done <"$logs/$v$sfx/results.tsv"
	done

	# A test that passes on baseline must pass on dedup.
	regressed=()
	for t in $("$root/scripts/zdtm-run" --flavor $flavor --list); do
		n=${t#zdtm/}
		[ "${result[$flavor/baseline/$n]:-}" = pass ] && [ "${result[$flavor/dedup/$n]:-}" != pass ] &&
			regressed+=("$n")
	done
	first=$("$root/scripts/zdtm-run" --flavor $flavor --list | head -n 1)
	first=${first#zdtm/}
	what="nothing that passes on baseline fails on dedup ($flavor flavor)"
	if [ -z "${result[$flavor/baseline/$first]:-}" ] || [ -z "${result[$flavor/dedup/$first]:-}" ]; then
		fail "$what" "a variant did not run"
	elif [ "${#regressed[@]}" -eq 0 ]; then
		pass "$what"
	else
		fail "$what" "regressed: ${regressed[*]}"
	fi
done

# Did zdtm exercise dedup? The dedup build logs "cow-dedup: switched off"
# when it turns itself off, and counts the pages it left to the parent.
off=$(grep -l 'cow-dedup: switched off' "$logs"/dedup/*/dump.log 2>/dev/null)
for f in $off; do echo "dedup switched off in $(basename "$(dirname "$f")"): $(grep -m1 -o 'cow-dedup: switched off.*' "$f")"; done
for d in "$logs"/dedup/*/; do
	[ -f "$d/stats-dump.json" ] || continue
	echo "dedup $(basename "$d"): pages_written=$(jq '.entries[0].dump.pages_written' "$d/stats-dump.json")" \
		"pages_cow_skipped=$(jq '.entries[0].dump.pages_cow_skipped // "absent"' "$d/stats-dump.json")" \
		"pages_cow_inherited=$(jq '.entries[0].restore.pages_cow_inherited // "absent"' "$d/stats-restore.json" 2>/dev/null)"
done
skipped=$(stat_sum dedup dump pages_cow_skipped)
inherited=$(stat_sum dedup restore pages_cow_inherited)
written_b=$(stat_sum baseline dump pages_written)
written_d=$(stat_sum dedup dump pages_written)
echo "pages_written over the subset: baseline $written_b, dedup $written_d; dedup pages_cow_skipped $skipped, pages_cow_inherited $inherited"
# gt NAME A B: PASS if A > B.
gt() { if [ "$2" -gt "$3" ]; then pass "$1"; else fail "$1" "$2 is not above $3"; fi; }
gt "zdtm dedup dumps skipped COW-shared pages (pages_cow_skipped)" "$skipped" 0
gt "zdtm dedup restores inherited COW-shared pages (pages_cow_inherited)" "$inherited" 0
gt "zdtm dedup writes fewer pages than baseline over the subset" "$written_b" "$written_d"
if [ -z "$off" ]; then
	pass "zdtm dedup dumps never switched dedup off"
else
	fail "zdtm dedup dumps never switched dedup off" "$(echo $off)"
fi
exit 0
