#!/usr/bin/env bash
# The real applications in workloads/apps: each starts (small: 32 MiB),
# prints a ready line listing a tree of at least two processes, survives a
# baseline CRIU dump and restore with the same pids alive, and when killed
# leaves nothing behind.
. "$(dirname "$0")/lib.sh"
. "$COWDUMP_ROOT/workloads/verify.sh"

for app in redis-tree:redis numpy-pool:numpy stressng-tree:stress-ng; do
	script=${app%%:*} tool=${app#*:}
	d=$(mktmp)
	r=$d/ready.json
	if ! timeout 120 "$COWDUMP_ROOT/workloads/apps/$script" --detach --dir "$d" --size-mib 32 \
		--ready-file "$r" >"$d/stdout" 2>"$d/stderr"; then
		[ -s "$r" ] && track_ready "$r"
		fail "$script: starts and reports ready" "$(tail -n 1 "$d/stderr")"
		kill_tracked
		continue
	fi
	track_ready "$r"
	pass "$script: starts and reports ready"
	check "$script: the ready line says tool $tool and lists a tree" \
		test "$(rl "$r" .tool)" = "$tool" -a "$(rl "$r" '.procs | length')" -ge 2
	check "$script: the launcher printed the ready file's line" cmp -s "$d/stdout" "$r"
	pids=$(ready_pids "$r")
	# the listed pids are exactly the live tree under the root
	check "$script: the ready line lists the whole tree" \
		test "$(echo $(sort -n <<<"$pids"))" = "$(echo $(
			(echo "$(rl "$r" .root)"; descendants "$(rl "$r" .root)") | sort -n))"
	if criu_dump baseline "$(rl "$r" .root)" "$d/img" && criu_restore baseline "$d/img"; then
		alive_all=1
		for p in $pids; do alive "$p" || alive_all=0; done
		check "$script: baseline dump and restore keeps every pid alive" test $alive_all = 1
		if [ "$tool" = redis ]; then
			check "redis-tree: the restored server answers with its keys" \
				test "$(redis-cli -p "$(rl "$r" .port)" dbsize 2>/dev/null)" -gt 0
		fi
	else
		fail "$script: baseline dump and restore keeps every pid alive" "dump or restore failed"
	fi
	kill_tracked
	check "$script: killed, no process remains" wait_gone 10 $pids
done
exit 0
