#!/usr/bin/env bash
# Brings up a single-node Slurm cluster on this machine, from Debian's
# packages (slurm-wlm, munge), for exec/slurm's tests and for trying
# provider: slurm by hand. Run it as root; running it again is harmless:
# what already runs with the same configuration is left alone.
#
#   scripts/slurm-up.sh            # install if missing, configure, start, wait for the node
#
# The node has FXMESH_SLURM_CPUS CPUs (default 8) whatever the machine has:
# Slurm counts CPUs, it does not confine jobs to them here (task/none), so
# a 2-core CI machine can hold the tests' blocks side by side (2 blocks of
# 2 workers, and the Slurm tests of other packages running at the same
# time) instead of queueing them one after the other. Memory is not a
# consumable resource (CR_Core), so a job without --mem does not take the
# whole node's. Waits FXMESH_SLURM_WAIT seconds (default 60) for the node to
# be idle, prints sinfo, and exits non-zero saying why when it is not.
set -euo pipefail

cpus=${FXMESH_SLURM_CPUS:-8}
wait_s=${FXMESH_SLURM_WAIT:-60}
conf=/etc/slurm/slurm.conf
marker='# Written by fxmesh scripts/slurm-up.sh'
log=/var/log/slurm

die() { echo "slurm-up: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run me as root (the daemons run as root here)"

if ! command -v slurmctld >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1 ||
  ! command -v sbatch >/dev/null 2>&1; then
  echo "slurm-up: installing slurm-wlm and munge"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq slurm-wlm munge
fi

# munge: a key owned by munge, its run directory, the daemon.
install -d -o munge -g munge -m 0700 /etc/munge /var/lib/munge /var/log/munge
install -d -o munge -g munge -m 0755 /run/munge
if [ ! -s /etc/munge/munge.key ]; then
  mungekey --create --keyfile=/etc/munge/munge.key
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  echo "slurm-up: starting munged"
  runuser -u munge -- munged
  ok=
  for _ in $(seq 50); do
    if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then ok=1; break; fi
    sleep 0.1
  done
  [ -n "$ok" ] || die "munged does not answer: $(tail -5 /var/log/munge/munged.log 2>/dev/null)"
fi

# slurm.conf for this host.
node=$(hostname -s)
mem=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
want=$(cat <<EOF
$marker; edits are overwritten.
# A single-node cluster: SlurmUser=root, no accounting, no cgroups.
ClusterName=fxmesh
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
# The node's CPUs below are counted, not checked against the hardware.
SlurmdParameters=config_overrides
ReturnToService=2
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$log/slurmctld.log
SlurmdLogFile=$log/slurmd.log
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
MinJobAge=300
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
)
if [ -e "$conf" ] && ! head -1 "$conf" | grep -qF "$marker"; then
  die "$conf exists and was not written by this script; move it away first"
fi
changed=
if [ ! -e "$conf" ] || [ "$(cat "$conf")" != "$want" ]; then
  printf '%s\n' "$want" >"$conf.tmp"
  chmod 0644 "$conf.tmp"
  mv "$conf.tmp" "$conf"
  changed=1
fi
install -d -m 0755 /var/spool/slurmctld /var/spool/slurmd "$log"

# alive NAME: whether the daemon of the pid file /run/NAME.pid runs.
alive() {
  local pid
  pid=$(cat "/run/$1.pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q "$1" "/proc/$pid/comm" 2>/dev/null
}
# stop NAME: ends that daemon, by its pid, and waits for it.
stop() {
  local pid
  alive "$1" || return 0
  pid=$(cat "/run/$1.pid")
  echo "slurm-up: stopping $1 ($pid): the configuration changed"
  kill "$pid"
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  die "$1 ($pid) did not stop"
}
if [ -n "$changed" ]; then
  stop slurmd
  stop slurmctld
fi
if ! alive slurmctld; then
  echo "slurm-up: starting slurmctld"
  slurmctld || die "slurmctld did not start: $(tail -5 $log/slurmctld.log 2>/dev/null)"
fi
if ! alive slurmd; then
  echo "slurm-up: starting slurmd"
  slurmd || die "slurmd did not start: $(tail -5 $log/slurmd.log 2>/dev/null)"
fi

# Wait for the node to take jobs: idle, or busy with jobs already.
deadline=$((SECONDS + wait_s))
resumed=
while :; do
  state=$(sinfo -h -N -n "$node" -o %T 2>/dev/null | head -1 || true)
  case "$state" in
  idle | mixed | allocated | completing) break ;;
  down* | drain* | fail*)
    # A node that the controller remembers down (a restart with another
    # configuration) is brought back once.
    if [ -z "$resumed" ]; then
      resumed=1
      scontrol update nodename="$node" state=resume 2>/dev/null || true
    fi
    ;;
  esac
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "slurm-up: node $node is '${state:-not listed}' after ${wait_s}s, not idle" >&2
    sinfo -R >&2 || true
    tail -20 "$log/slurmctld.log" "$log/slurmd.log" >&2 || true
    exit 1
  fi
  sleep 0.2
done
sinfo
