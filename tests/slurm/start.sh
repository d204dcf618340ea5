#!/usr/bin/env bash
# A one-node SLURM on this machine for the tests: munge, slurmctld and slurmd, with
# accounting off (so job status comes from squeue). Needs root and Debian's
# slurm-wlm + munge (.ci/run installs them). Idempotent: a cluster this script
# already started in STATE_DIR is left running.
#
#   tests/slurm/start.sh STATE_DIR
#   tests/slurm/stop.sh STATE_DIR
#
# The config is STATE_DIR/slurm.conf, linked from /etc/slurm/slurm.conf: srun inside
# a job step reads the default path (the executor clears SLURM_* variables there).
# A slurm.conf this script did not write is never replaced.
set -euo pipefail
state=$(realpath -m "${1:?usage: start.sh STATE_DIR}")
mkdir -p "$state"/{spool,ctld,log}
export SLURM_CONF="$state/slurm.conf"
if [ -e /etc/slurm/slurm.conf ] && ! grep -q "Written by tests/slurm/start.sh" /etc/slurm/slurm.conf; then
    echo "start.sh: /etc/slurm/slurm.conf exists and is not a test cluster's: not touching a real SLURM" >&2
    exit 3
fi

for tool in munged slurmctld slurmd sbatch squeue scancel; do
    command -v "$tool" >/dev/null || { echo "start.sh: $tool not found: apt-get install -y slurm-wlm munge" >&2; exit 2; }
done

# munge: one key for the host; its daemon is shared by every cluster on it.
if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
    chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
fi
mkdir -p /run/munge && chown munge:munge /run/munge
if ! munge -n </dev/null >/dev/null 2>&1; then
    munged -f 2>"$state/log/munged.err" || true
    for _ in $(seq 50); do munge -n </dev/null >/dev/null 2>&1 && break; sleep 0.1; done
    munge -n </dev/null >/dev/null 2>&1 || { echo "start.sh: munged did not start" >&2; cat "$state/log/munged.err" >&2; exit 1; }
    touch "$state/started-munged"
fi

host=$(hostname -s)
cpus=$(nproc)
mem_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 3 / 4 ))
cat > "$SLURM_CONF" <<CONF
# Written by tests/slurm/start.sh: one node, this host, accounting off.
ClusterName=bnopt-test
SlurmctldHost=$host
SlurmctldPort=${BNOPT_SLURMCTLD_PORT:-6817}
SlurmdPort=${BNOPT_SLURMD_PORT:-6818}
AuthType=auth/munge
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# squeue reports a finished job for MinJobAge seconds: the executor's status checks need it.
MinJobAge=600
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/spool
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
NodeName=$host CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF

mkdir -p /etc/slurm && ln -sfn "$SLURM_CONF" /etc/slurm/slurm.conf

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
alive "$state/slurmctld.pid" || slurmctld -f "$SLURM_CONF"
alive "$state/slurmd.pid" || slurmd -f "$SLURM_CONF"
for _ in $(seq 100); do
    if sinfo -h -o %t 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
        echo "SLURM up: $(sinfo -h -o '%P %D %t %c CPUs')"
        exit 0
    fi
    sleep 0.2
done
echo "start.sh: the node did not come up; logs in $state/log" >&2
sinfo >&2 || true
tail -20 "$state/log/slurmctld.log" "$state/log/slurmd.log" >&2 || true
exit 1
