#!/usr/bin/env bash
# Stop the daemons tests/slurm/start.sh started in STATE_DIR (munged only if it
# started it), cancelling any job left in the queue first.
set -uo pipefail
state=$(realpath -m "${1:?usage: stop.sh STATE_DIR}")
export SLURM_CONF="$state/slurm.conf"
[ -f "$SLURM_CONF" ] && scancel --full -u "$(id -un)" 2>/dev/null
for daemon in slurmd slurmctld; do
    pidfile="$state/$daemon.pid"
    if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        pid=$(cat "$pidfile")
        kill "$pid"
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null
    fi
done
if [ -f "$state/started-munged" ]; then
    pkill -x munged
    rm -f "$state/started-munged"
fi
if [ "$(readlink /etc/slurm/slurm.conf)" = "$SLURM_CONF" ]; then
    rm -f /etc/slurm/slurm.conf
fi
exit 0
