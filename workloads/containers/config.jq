# config.jq: turns the config.json `runc spec` writes into the cowtree
# container's (runc-tree start applies it). The defaults runc chose stay:
# namespaces (pid, network, ipc, uts, mount), mounts, capabilities, cgroup.
#
# Arguments (jq --argjson / --arg):
#   $cowtree      JSON array: cowtree's arguments
#   $env          JSON array of extra "NAME=VALUE" for the workload
#   $annotations  JSON object added to .annotations (org.criu.config: the
#                 CRIU config file runc hands CRIU over RPC)
#   $hostname     the container's hostname
#
# The workload's stdio stays inside the container (files in its /tmp and its
# own /dev/null): an fd inherited from outside is an external resource CRIU
# refuses to dump without --inherit-fd/--external options runc does not
# pass. busybox's sh sets that up and execs cowtree, which so becomes the
# container's pid 1 and the root of its tree.
.process.terminal = false
| .process.args = ["/bin/sh", "-c", "exec /bin/cowtree \"$@\" >/tmp/cowtree.out 2>&1 </dev/null", "cowtree"] + $cowtree
| .process.env += ["COWTREE_SCENARIO_DIR=/etc/cowtree/scenarios"] + $env
# The host reads the ready line from the rootfs's /tmp, so /tmp is the
# rootfs's own directory (no tmpfs mount), and the rootfs is writable.
| .root.readonly = false
| .hostname = $hostname
| .annotations = ((.annotations // {}) + $annotations)
