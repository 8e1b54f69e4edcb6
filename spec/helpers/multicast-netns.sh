#!/bin/bash
# Runs inside a fresh network namespace (the spec starts it with `unshare -n`): a bridge br0 with 10.77.0.1/24
# and fd77::1/64, and MEMBERS libcoap servers, each in a nested namespace of its own on a veth into the bridge
# (10.77.0.1N, fd77::1N), joined to GROUP with `-g`. Then runs the client command given as arguments here, in
# this namespace, and exits with its status. Every process is ours and is killed on exit; the namespaces go
# with them. Only addresses inside these namespaces are used.
#
# Environment: SERVER (the coap-server command line before its own arguments), GROUP, MEMBERS (default 3),
# LOGDIR (the members' logs), NO_MCAST_ROUTE.
set -euo pipefail
MEMBERS=${MEMBERS:-3}
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

# No IPv6 duplicate address detection: addresses are usable at once.
sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 2>/dev/null || true
ip link set lo up
ip link add br0 type bridge mcast_snooping 0
ip addr add 10.77.0.1/24 dev br0
ip -6 addr add fd77::1/64 dev br0 nodad
ip link set br0 up
# NO_MCAST_ROUTE=1: no route for multicast here, so only a chosen outgoing interface reaches the members.
[ -n "${NO_MCAST_ROUTE:-}" ] || ip route add 224.0.0.0/4 dev br0

for n in $(seq 1 "$MEMBERS"); do
  # A nested namespace held open by a sleeping process; the member server runs in it with nsenter.
  unshare -n sleep 600 &
  holder=$!
  pids+=("$holder")
  for _ in $(seq 1 50); do [ "$(readlink /proc/$holder/ns/net)" != "$(readlink /proc/$$/ns/net)" ] && break; sleep 0.02; done
  ip link add "vm$n" type veth peer name eth0 netns "$holder"
  ip link set "vm$n" master br0 up
  nsenter -t "$holder" -n sh -c "
    sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 2>/dev/null || true
    ip link set lo up
    ip addr add 10.77.0.1$n/24 dev eth0
    ip -6 addr add fd77::1$n/64 dev eth0 nodad
    ip link set eth0 up
    ip route add 224.0.0.0/4 dev eth0
  "
  # shellcheck disable=SC2086
  nsenter -t "$holder" -n $SERVER -g "$GROUP" -v 7 > "${LOGDIR:-/tmp}/member$n.log" 2>&1 &
  pids+=("$!")
done

# Ready once every member listens on UDP 5683 in its namespace.
for n in $(seq 1 "$MEMBERS"); do
  holder=${pids[$(( (n - 1) * 2 ))]}
  for _ in $(seq 1 100); do
    nsenter -t "$holder" -n ss -lun 2>/dev/null | grep -q ':5683 ' && break
    sleep 0.05
  done
done

"$@"
