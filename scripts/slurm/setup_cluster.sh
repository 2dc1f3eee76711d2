#!/usr/bin/env bash
# A one-node Slurm cluster on this machine (slurmctld + slurmd, Debian's slurm-wlm and munge), for
# the runner's Slurm backend and its tests. Idempotent: packages, key, daemons are each skipped
# when already there. Runs as root (the daemons run as root; no cgroups needed:
# proctrack/linuxproc, task/none; no accounting daemon: job states come from `scontrol show job`,
# kept for MinJobAge, and from the jobcomp/filetxt log).
#
# Usage:  source <(bash scripts/slurm/setup_cluster.sh)    # prints `export SLURM_CONF=...`
#    or:  bash scripts/slurm/setup_cluster.sh && source "$CROSSMODA_SLURM_DIR/env.sh"
#
# Environment:
#   CROSSMODA_SLURM_DIR   state folder (slurm.conf, logs, PIDs, spool, env.sh); default /tmp/crossmoda-slurm
#   CROSSMODA_SLURM_PORT  slurmctld port (slurmd uses the next one); default 6917
#   CROSSMODA_SLURM_MEM   node memory in MB given to Slurm; default 4096 (two 2 GB jobs at once)
# Stop with scripts/slurm/stop_cluster.sh (kills only the PIDs recorded here).
set -euo pipefail
STATE="${CROSSMODA_SLURM_DIR:-/tmp/crossmoda-slurm}"
PORT="${CROSSMODA_SLURM_PORT:-6917}"
MEM="${CROSSMODA_SLURM_MEM:-4096}"
HOST="$(hostname -s)"
CONF="$STATE/slurm.conf"
log() { echo "[slurm] $*" >&2; }
[ "$(id -u)" -eq 0 ] || { log "run as root (the one-node cluster's daemons run as root)"; exit 1; }
mkdir -p "$STATE/ctld" "$STATE/spool"

# 1. packages
if ! command -v slurmctld >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1; then
  log "installing slurm-wlm munge (apt)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >&2 \
    || { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >&2; }
fi

# 2. munge (authentication between the Slurm commands and daemons)
if [ ! -s /etc/munge/munge.key ]; then
  log "creating /etc/munge/munge.key"
  mungekey --create --keyfile /etc/munge/munge.key 2>/dev/null || dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
  chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
fi
if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  log "munged already running"
else
  mkdir -p /run/munge /var/log/munge /var/lib/munge && chown munge:munge /run/munge /var/log/munge /var/lib/munge
  runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
  for _ in $(seq 1 20); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.25; done
  munge -n | unmunge >/dev/null || { log "munged did not start"; exit 1; }
  cp /run/munge/munged.pid "$STATE/munged.pid"  # written by the daemon itself after it forked
  log "munged PID $(cat "$STATE/munged.pid")"
fi

# 3. slurm.conf (rewritten each time: same content for the same settings)
cat > "$CONF" <<CONF
ClusterName=crossmoda
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.daemon.pid
SlurmdPidFile=$STATE/slurmd.daemon.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$STATE/jobcomp.log
MinJobAge=86400
MaxJobCount=100000
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
ReturnToService=2
MpiDefault=none
SlurmdTimeout=300
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=2 RealMemory=$MEM State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$CONF"

# 4. daemons (started only when the controller does not answer)
if scontrol ping 2>/dev/null | grep -q "UP"; then
  log "slurmctld already answering on port $PORT"
else
  nohup /usr/sbin/slurmctld -D -i -f "$CONF" >"$STATE/slurmctld.out" 2>&1 &
  echo $! > "$STATE/slurmctld.pid"
  for _ in $(seq 1 60); do scontrol ping 2>/dev/null | grep -q UP && break; sleep 0.5; done
  scontrol ping | grep -q UP || { log "slurmctld did not come up; see $STATE/slurmctld.log"; exit 1; }
  log "slurmctld PID $(cat "$STATE/slurmctld.pid")"
fi
if [ -f "$STATE/slurmd.pid" ] && kill -0 "$(cat "$STATE/slurmd.pid")" 2>/dev/null; then
  log "slurmd already running"
else
  nohup /usr/sbin/slurmd -D -f "$CONF" >"$STATE/slurmd.out" 2>&1 &
  echo $! > "$STATE/slurmd.pid"
  log "slurmd PID $(cat "$STATE/slurmd.pid")"
fi
for _ in $(seq 1 60); do
  state="$(sinfo -h -N -o %t 2>/dev/null | head -1)"
  case "$state" in idle*|mix*|alloc*) break ;; esac
  sleep 0.5
done
case "$state" in
  idle*|mix*|alloc*) log "node $HOST is $state (2 CPUs, ${MEM} MB)" ;;
  *) scontrol update nodename="$HOST" state=resume >/dev/null 2>&1 || true
     log "node $HOST is '$state'; see $STATE/slurmd.log" ;;
esac

echo "export SLURM_CONF=\"$CONF\"" > "$STATE/env.sh"
echo "export CROSSMODA_SLURM_DIR=\"$STATE\"" >> "$STATE/env.sh"
cat "$STATE/env.sh"
